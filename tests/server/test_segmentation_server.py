"""Talk to the real server as 3D Slicer's MONAI Label extension does, with the real client."""

from __future__ import annotations

import re
import time

import nibabel as nib
import numpy as np
import pytest
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException, MONAILabelUtils

from tests.server.answer_checks import assert_stage_times

pytestmark = pytest.mark.slow

IMAGES = ("phantom_0000", "phantom_0001", "phantom_0002")  # RAS, LPS, oblique headers


def _status(error: MONAILabelClientException) -> int:
    match = re.search(r"Status: (\d+)", error.msg)
    assert match, error.msg
    return int(match.group(1))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)


def test_info_offers_the_automatic_model(server):
    client = server.client
    info = client.info()
    model = info["models"]["segmentation"]
    assert model["type"] == "segmentation"
    assert model["labels"] == {"gtv": 1, "heart": 2}
    assert "segmentation" in info["trainers"]


def test_next_sample_is_a_datastore_image(server):
    client = server.client
    sample = client.next_sample("random", {})
    assert sample["id"] == "phantom_0003"  # the only image without a final label


@pytest.mark.parametrize("image_id", IMAGES)
def test_infer_answers_on_the_image_own_grid(server, image_id):
    client, studies = server.client, server.studies
    label_file, params = client.infer("segmentation", image_id, {})
    result, image = nib.load(label_file), nib.load(studies / f"{image_id}.nii.gz")
    truth = np.asarray(nib.load(studies / "labels" / "final" / f"{image_id}.nii.gz").dataobj)
    assert result.shape == image.shape
    np.testing.assert_allclose(result.affine, image.affine, atol=1e-3)
    prediction = np.asarray(result.dataobj)
    assert set(np.unique(prediction)) <= {0, 1, 2}
    # Voxel for voxel against the truth: a flipped or shifted answer would fail this.
    assert _dice(prediction == 2, truth == 2) > 0.8
    assert params["label_names"] == {"gtv": 1, "heart": 2}
    assert_stage_times(params)


def test_uploaded_session_is_segmented(server):
    client, studies = server.client, server.studies
    session_id = client.create_session(str(studies / "phantom_0001.nii.gz"))["session_id"]
    label_file, _ = client.infer("segmentation", "", {}, session_id=session_id)
    assert nib.load(label_file).shape == nib.load(studies / "phantom_0001.nii.gz").shape


def test_saved_final_label_is_in_the_datastore(server, tmp_path):
    client, studies = server.client, server.studies
    label = nib.load(studies / "labels" / "final" / "phantom_0002.nii.gz")
    edited = np.asarray(label.dataobj).copy()
    edited[edited == 1] = 0  # the user erased the GTV
    path = tmp_path / "edited.nii.gz"
    nib.save(nib.Nifti1Image(edited, label.affine), path)
    client.save_label("phantom_0002", str(path), tag="final")
    saved = nib.load(studies / "labels" / "final" / "phantom_0002.nii.gz")
    np.testing.assert_array_equal(np.asarray(saved.dataobj), edited)
    assert client.datastore()["objects"]["phantom_0002"]["labels"]["final"]


@pytest.mark.parametrize(
    "model, image_id, status, words",
    [
        ("no_such_model", "phantom_0000", 404, "unknown model 'no_such_model'"),
        ("segmentation", "no_such_image", 404, "unknown image id 'no_such_image'"),
    ],
)
def test_unknown_model_or_image_is_a_404_that_names_it(server, model, image_id, status, words):
    client = server.client
    with pytest.raises(MONAILabelClientException) as error:
        client.infer(model, image_id, {})
    assert _status(error.value) == status and words in error.value.msg
    assert client.info()["models"]


def test_corrupt_nifti_upload_is_a_4xx_and_the_server_keeps_running(server, tmp_path):
    client = server.client
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b this is not a gzip stream")
    with pytest.raises(MONAILabelClientException) as error:
        client.infer("segmentation", "", {}, file=str(corrupt))
    assert _status(error.value) == 415 and "cannot read image" in error.value.msg
    label_file, _ = client.infer("segmentation", "phantom_0000", {})
    assert nib.load(label_file).shape


def test_malformed_params_json_is_a_400(server):
    client = server.client
    status, body, _, _ = MONAILabelUtils.http_multipart(
        "POST", client.get_server_url(), "/infer/segmentation?image=phantom_0000", {"params": "{not json"}, {}
    )
    assert status == 400 and b"params is not valid JSON" in body
    assert client.info()["models"]


def test_training_starts_reports_and_stops(server):
    client: MONAILabelClient = server.client
    started = client.train_start("segmentation", {"max_epochs": 50, "val_split": 0.0})
    assert started["status"] in ("SUBMITTED", "RUNNING")
    deadline = time.time() + 60
    while time.time() < deadline and not client.train_status(check_if_running=True):
        time.sleep(1)
    assert client.train_status(check_if_running=True)
    assert client.train_status()["status"] == "RUNNING"
    client.train_stop()
    deadline = time.time() + 60
    while time.time() < deadline and client.train_status(check_if_running=True):
        time.sleep(1)
    assert not client.train_status(check_if_running=True)
    assert client.train_status()["status"] in ("STOPPED", "DONE", "ERROR")


def test_training_to_the_end_publishes_the_model_that_is_then_served(server):
    """Runs last: afterwards the server serves this barely trained model."""
    client = server.client
    client.train_start("segmentation", {"max_epochs": 1, "val_split": 0.34, "name": "to_the_end"})
    deadline = time.time() + 600
    while time.time() < deadline and client.train_status()["status"] != "DONE":
        assert client.train_status()["status"] in ("SUBMITTED", "RUNNING", "DONE"), client.train_status()
        time.sleep(2)
    published = server.model_dir / "segmentation.pt"
    assert published.exists()
    assert client.info()["train_stats"]["segmentation"]["total_epochs"] == 1
    label_file, _ = client.infer("segmentation", "phantom_0000", {})
    assert nib.load(label_file).shape == nib.load(server.studies / "phantom_0000.nii.gz").shape
    assert "segmentation.pt" in server.log.read_text()
