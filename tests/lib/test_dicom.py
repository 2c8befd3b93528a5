"""Phantoms as DICOM: geometry read back by SimpleITK (an independent reader), HU, PET, SEG round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from lib.dicom.geometry import RAS_TO_LPS, affine_from_planes, slice_geometry
from lib.dicom.phantoms import write_case
from lib.dicom.seg import label_to_seg, seg_to_label
from lib.dicom.series import SeriesError, Study, check_series, read_series, write_series
from lib.phantom.datastore import case_config
from lib.phantom.generate import generate_phantom

SHAPE = (24, 20, 10)
STUDY = Study("1.2.3.4", "1.2.3.5", "p", "P^Q")


def small_phantom(orientation: str, pet: bool = False):
    config = dataclasses.replace(case_config(0, pet=pet, orientation=orientation), shape=SHAPE)
    return generate_phantom(config)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_simpleitk_reads_the_series_on_the_phantom_grid(orientation, tmp_path):
    phantom = small_phantom(orientation)
    write_series(phantom.image[0], phantom.affine, tmp_path, STUDY, "CT", "1.2.3.6")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    image = reader.Execute()
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (k, j, i) -> (i, j, k)
    assert np.allclose(array, np.round(phantom.image[0]), atol=0.5)  # HU through the rescale
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    linear = RAS_TO_LPS @ phantom.affine[:3, :3]
    assert np.allclose(direction @ np.diag(image.GetSpacing()), linear, atol=1e-5)
    assert np.allclose(image.GetOrigin(), RAS_TO_LPS @ phantom.affine[:3, 3], atol=1e-4)
    assert image.GetSpacing() == pytest.approx((3.0, 3.0, 6.0))  # anisotropic


def test_slice_geometry_round_trips_and_rejects_left_handed_grids():
    affine = small_phantom("oblique").affine
    geometry = slice_geometry(affine, SHAPE)
    assert np.allclose(affine_from_planes(geometry.orientation, geometry.positions, geometry.pixel_spacing), affine)
    flipped = affine.copy()
    flipped[:3, 2] *= -1
    with pytest.raises(ValueError, match="normal"):
        slice_geometry(flipped, SHAPE)


def test_pet_ct_case_shares_grid_and_frame_of_reference(tmp_path):
    case = write_case(2, tmp_path, pet=True, labelled=True, shape=SHAPE)
    ct = [f for f in case.files if "/ct/" in f]
    pet = [f for f in case.files if "/pet/" in f]
    _, ct_affine, ct_ds = read_series(ct)
    pet_volume, pet_affine, pet_ds = read_series(pet)
    assert pet_ds[0].Modality == "PT" and pet_ds[0].Units == "GML"
    assert pet_ds[0].FrameOfReferenceUID == ct_ds[0].FrameOfReferenceUID
    assert np.allclose(ct_affine, pet_affine)
    phantom = generate_phantom(dataclasses.replace(case_config(2, pet=True), shape=SHAPE))
    slope = float(pet_ds[0].RescaleSlope)
    assert np.abs(pet_volume - phantom.image[1]).max() <= slope
    seg = pydicom.dcmread([f for f in case.files if f.endswith("seg.dcm")][0])
    assert np.array_equal(seg_to_label(seg, ct_ds), phantom.label)


def test_seg_round_trip_names_codes_and_checks(tmp_path):
    phantom = small_phantom("LPS")
    paths = write_series(phantom.image[0], phantom.affine, tmp_path, STUDY, "CT", "1.2.3.7")
    source = [pydicom.dcmread(p) for p in paths]
    seg = label_to_seg(phantom.label, source[::-1])  # any order in
    seg.save_as(tmp_path / "seg.dcm")
    back = seg_to_label(pydicom.dcmread(tmp_path / "seg.dcm"), source)
    assert np.array_equal(back, phantom.label)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["gtv", "heart"]
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "86049000"
    with pytest.raises(ValueError, match="shape"):
        label_to_seg(phantom.label[:, :, :-1], source)
    with pytest.raises(ValueError, match="not among"):
        label_to_seg(np.full(phantom.label.shape, 7, np.uint8), source)


def test_check_series_names_what_is_wrong(tmp_path):
    phantom = small_phantom("RAS")
    datasets = [pydicom.dcmread(p) for p in write_series(
        phantom.image[0], phantom.affine, tmp_path, STUDY, "CT", "1.2.3.8")]
    check_series(datasets)
    with pytest.raises(SeriesError, match="evenly spaced"):
        check_series(datasets[:4] + datasets[5:])
    with pytest.raises(SeriesError, match="not PT"):
        check_series(datasets, modality="PT")
    datasets[3].PixelData = datasets[3].PixelData[:100]
    with pytest.raises(SeriesError, match="bytes of pixel data"):
        check_series(datasets)
