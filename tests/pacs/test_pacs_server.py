"""The app on a real Orthanc over DICOMweb: list, infer, cache, save as DICOM SEG, bad series, PACS down."""

from __future__ import annotations

import io
import json

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
import requests

from apps.radiotherapy.launch import APP_DIR, start_server
from apps.radiotherapy.pacs import start_orthanc
from lib.dicom.seg import seg_to_label
from tests.pacs.conftest import pacs_env

pytestmark = pytest.mark.slow  # Orthanc and a MONAI Label server (once per session)


def source_datasets(case) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(f) for f in case.files if "/ct/" in f]


def phantom_affine(case) -> np.ndarray:
    from lib.dicom.series import read_series

    return read_series([f for f in case.files if "/ct/" in f])[1]


@pytest.fixture(scope="module")
def lps_infers(pacs):
    """Two inferences of the automatic model on the LPS series through the REST API (label files)."""
    uid = pacs.cases["LPS"].ct_series_uid
    first, _ = pacs.client.infer("segmentation", uid, {})
    second, _ = pacs.client.infer("segmentation", uid, {})
    return uid, nib.load(first), nib.load(second)


def test_the_server_lists_the_ct_series_and_the_labelled_one(pacs):
    info = pacs.client.info()
    assert info["datastore"]["total"] == 4  # three phantoms and the corrupt series; no PET, no SEG
    assert info["datastore"]["completed"] == 1  # phantom 0 has its label as SEG in the PACS
    assert info["labels"] == ["gtv", "heart"] and "segmentation" in info["models"]


def test_infer_on_a_pacs_series_answers_on_its_grid(pacs, lps_infers):
    _, first, _ = lps_infers
    case = pacs.cases["LPS"]
    assert first.shape == (64, 64, 32)
    assert np.allclose(first.affine, phantom_affine(case), atol=1e-4)
    values = set(np.unique(np.asarray(first.dataobj)).tolist())
    assert values <= {0, 1, 2} and 2 in values  # the heart is found


def test_a_second_infer_does_not_download_again(pacs, lps_infers):
    uid, first, second = lps_infers
    assert pacs.server_log().count(f"downloaded series {uid}") == 1
    assert np.array_equal(np.asarray(first.dataobj), np.asarray(second.dataobj))
    assert len(list((next(pacs.cache.iterdir()) / uid).glob("*.dcm"))) == 32


def test_a_final_label_is_saved_as_dicom_seg_in_the_source_study(pacs, lps_infers, tmp_path):
    uid, first, _ = lps_infers
    case = pacs.cases["LPS"]
    label = np.asarray(first.dataobj).astype(np.uint8)
    label[0:3, 0:3, 0:2] = 1  # the user's own edit: the SEG must hold what was sent, not the model's answer
    nib.save(nib.Nifti1Image(label, first.affine), tmp_path / "label.nii.gz")
    before = {s["ID"] for s in pacs.orthanc.series("SEG")}
    pacs.client.save_label(uid, str(tmp_path / "label.nii.gz"), tag="final", params={"model": "segmentation"})
    new = [s for s in pacs.orthanc.series("SEG") if s["ID"] not in before]
    assert len(new) == 1
    study = pacs.orthanc.get(f"/studies/{new[0]['ParentStudy']}").json()
    assert study["MainDicomTags"]["StudyInstanceUID"] == case.study_uid
    seg = pydicom.dcmread(io.BytesIO(pacs.orthanc.get(f"/instances/{new[0]['Instances'][0]}/file").content))
    source = source_datasets(case)
    assert np.array_equal(seg_to_label(seg, source), label)  # voxel for voxel
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uid
    assert seg.FrameOfReferenceUID == source[0].FrameOfReferenceUID
    segments = {int(s.SegmentNumber): s for s in seg.SegmentSequence}
    assert segments[1].SegmentLabel == "gtv" and segments[2].SegmentLabel == "heart"
    assert segments[2].SegmentedPropertyTypeCodeSequence[0].CodeValue == "80891009"  # SNOMED CT heart
    shared = seg.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == pytest.approx(
        [float(v) for v in source[0].ImageOrientationPatient], abs=1e-6)
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == pytest.approx([3.0, 3.0])
    positions = {tuple(round(float(v), 3) for v in f.PlanePositionSequence[0].ImagePositionPatient)
                 for f in seg.PerFrameFunctionalGroupsSequence}  # one frame per slice and segment
    assert positions == {tuple(round(float(v), 3) for v in ds.ImagePositionPatient) for ds in source}
    hd.seg.Segmentation.from_dataset(seg)  # highdicom reads it
    # ... and it is the datastore's final label (what training and active learning see)
    saved = pacs.client.download_label(uid, "final")
    assert np.array_equal(np.asarray(nib.load(saved).dataobj), label)


def test_a_non_ct_series_gets_a_4xx_naming_it(pacs):
    pet = pacs.cases["oblique"].pet_series_uid
    response = requests.post(f"{pacs.server.url}/infer/segmentation", params={"image": pet}, timeout=60)
    assert response.status_code == 422 and pet in response.text and "PT" in response.text


def test_a_corrupt_series_gets_a_4xx_naming_it(pacs):
    uid = pacs.corrupt_series_uid
    response = requests.post(f"{pacs.server.url}/infer/segmentation", params={"image": uid}, timeout=60)
    assert response.status_code == 422 and uid in response.text and "evenly spaced" in response.text
    assert not (next(pacs.cache.iterdir()) / uid).exists()  # nothing cached
    assert pacs.server.answers()


def test_a_malformed_or_unknown_series_id(pacs):
    bad = requests.post(f"{pacs.server.url}/infer/segmentation", params={"image": "../../etc/passwd"}, timeout=30)
    assert bad.status_code in (400, 404, 422) and "passwd" in bad.text
    unknown = requests.post(f"{pacs.server.url}/infer/segmentation", params={"image": "1.2.3.4"}, timeout=30)
    assert unknown.status_code == 404 and "1.2.3.4" in unknown.text


def test_a_label_of_the_wrong_size_is_refused(pacs):
    uid = pacs.cases["LPS"].ct_series_uid
    response = requests.put(f"{pacs.server.url}/datastore/label", params={"image": uid, "tag": "final"},
                            files={"label": ("label.bin", b"\x01" * 100)}, data={"params": json.dumps({})}, timeout=30)
    assert response.status_code == 422 and "voxels" in response.text


def test_orthanc_down_gives_503_and_the_server_lives(pacs):
    uid = pacs.cases["RAS"].ct_series_uid  # the server caches it in no other test
    orthanc = pacs.orthanc
    port = int(orthanc.url.rsplit(":", 1)[1])
    orthanc.stop()
    try:
        response = requests.post(f"{pacs.server.url}/infer/segmentation", params={"image": uid}, timeout=60)
        assert response.status_code == 503 and "cannot be reached" in response.text
        assert pacs.server.answers()
    finally:
        restarted = start_orthanc(orthanc.root, port=port, username=orthanc.username, password=orthanc.password)
        orthanc.process = restarted.process
    assert not (next(pacs.cache.iterdir()) / uid).exists()


def test_wrong_credentials_stop_the_server_with_a_clear_message(pacs, tmp_path):
    env = pacs_env(pacs.orthanc, tmp_path, password="not-the-password")
    with pytest.raises(RuntimeError) as error:
        start_server(APP_DIR, pacs.orthanc.dicomweb_url, {"models": "segmentation", "model_dir": tmp_path / "model"},
                     tmp_path / "server.log", env_extra=env, timeout_s=120)
    assert "username/password were refused" in str(error.value) and "MONAI_LABEL_DICOMWEB_PASSWORD" in str(error.value)
