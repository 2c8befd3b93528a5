"""Segments <-> the server's label on real headers: NIfTI, NRRD and a ``.seg.nrrd`` written with slicerio.

What Slicer does is reproduced with its own libraries: it reads a volume with ITK (here
SimpleITK) and holds segments as (K, J, I) arrays on the volume's grid; the server reads
labels with nibabel. A label the package writes must land on the image's voxels for RAS,
LPS, oblique, anisotropic and sagittally stored volumes.
"""

from __future__ import annotations

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from SlicePropagationLib import geometry, label_map, match_segments, segment_masks
from SlicePropagationLib.geometry import (
    grid_offset_mm, ijk_to_ras_from_lps, ijk_to_ras_of, read_label, set_geometry, write_label,
)
from tests.slicer_module.conftest import SHAPE_IJK

LABELS = {"gtv": 1, "heart": 2}
SERVER_TOLERANCE_MM = 0.01  # infers/slice_propagation.py: GEOMETRY_TOLERANCE_MM


def test_ijk_to_ras_from_nifti_and_nrrd_headers_match_the_affine(headed_image, tmp_path):
    _, path, affine, _ = headed_image
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(ijk_to_ras_of(image), affine, atol=1e-4)
    nrrd_path = tmp_path / "image.nrrd"
    sitk.WriteImage(image, str(nrrd_path))
    header = nrrd.read_header(str(nrrd_path))
    assert header["space"] == "left-posterior-superior"
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = np.asarray(header["space directions"], dtype=float).T
    ijk_to_lps[:3, 3] = header["space origin"]
    np.testing.assert_allclose(ijk_to_ras_from_lps(ijk_to_lps), affine, atol=1e-4)


def write_seg_nrrd(path, truth_ijk, ijk_to_ras):
    """A .seg.nrrd as Slicer saves one: gtv, heart and a 'notes' segment the server does not know."""
    segmentation = slicerio.create_segmentation(truth_ijk.shape, geometry.RAS_FROM_LPS @ ijk_to_ras)
    slicerio.add_segment(segmentation, truth_ijk == 1, {"id": "Segment_1", "name": "GTV"})
    slicerio.add_segment(segmentation, truth_ijk == 2, {"id": "Segment_2", "name": "heart"})
    slicerio.add_segment(segmentation, truth_ijk == 1, {"id": "Segment_3", "name": "notes"})  # overlaps the GTV
    slicerio.write_segmentation(str(path), segmentation)


def segments_as_slicer_holds_them(path):
    """({segment id: name}, {segment id: (K, J, I) bool}, IJK-to-RAS) read back from a .seg.nrrd."""
    segmentation = slicerio.read_segmentation(str(path))
    assert segmentation["voxels"].ndim == 4  # 'notes' overlaps the GTV: two layers, as Slicer writes them
    names = {segment["id"]: segment["name"] for segment in segmentation["segments"]}
    masks = {sid: np.transpose(slicerio.segment_mask(segmentation, sid)) for sid in names}  # (I, J, K) -> (K, J, I)
    return names, masks, ijk_to_ras_from_lps(segmentation["ijkToLPS"])


def test_segments_from_a_seg_nrrd_become_the_servers_label_on_the_images_voxels(headed_image, tmp_path):
    name, path, affine, truth = headed_image
    seg_path = tmp_path / "segments.seg.nrrd"
    write_seg_nrrd(seg_path, truth, ijk_to_ras_of(sitk.ReadImage(str(path))))
    names, masks, ijk_to_ras = segments_as_slicer_holds_them(seg_path)
    mapping = match_segments(names, LABELS)
    assert mapping == {"Segment_1": 1, "Segment_2": 2}  # 'GTV' by name, case ignored; 'notes' left alone
    sent = write_label(label_map(masks, mapping), ijk_to_ras, str(tmp_path / "label.nii.gz"))
    on_server = nib.load(sent)  # how infers/slice_propagation.py reads the upload
    np.testing.assert_array_equal(np.asarray(on_server.dataobj), truth)
    assert grid_offset_mm(on_server.affine, affine, SHAPE_IJK) < SERVER_TOLERANCE_MM, name


def test_the_servers_answer_becomes_segments_on_the_volumes_voxels(headed_image, tmp_path):
    _, path, affine, truth = headed_image
    answer_path = tmp_path / "answer.nii.gz"
    nib.save(nib.Nifti1Image(truth, affine), answer_path)  # as the server writes its answer
    answer, grid = read_label(str(answer_path))
    assert answer.shape == SHAPE_IJK[::-1]
    assert grid_offset_mm(grid, ijk_to_ras_of(sitk.ReadImage(str(path))), SHAPE_IJK) < SERVER_TOLERANCE_MM
    masks = segment_masks(answer, {"Segment_1": 1, "Segment_2": 2})
    np.testing.assert_array_equal(masks["Segment_1"], np.transpose(truth == 1))
    np.testing.assert_array_equal(masks["Segment_2"], np.transpose(truth == 2))


def test_a_sheared_or_singular_grid_is_refused():
    image = sitk.Image(2, 2, 2, sitk.sitkUInt8)
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    with pytest.raises(ValueError, match="sheared"):
        set_geometry(image, sheared)
    with pytest.raises(ValueError, match="zero column"):
        set_geometry(image, np.diag([1.0, 0.0, 1.0, 1.0]))


def test_a_label_file_with_fractions_or_channels_is_refused(tmp_path):
    path = tmp_path / "bad.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((2, 3, 4), 0.5, np.float32)), str(path))
    with pytest.raises(ValueError, match="not class numbers"):
        read_label(str(path))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4, 2), np.uint8), isVector=True), str(path))
    with pytest.raises(ValueError, match="single-channel"):
        read_label(str(path))
