"""The cheap label writer: every format reads back voxel for voxel on the right grid (nibabel, ITK, pynrrd)."""

from __future__ import annotations

import gzip

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from lib.imaging.label_file import foreground_box, suffix_of, write_label, write_label_temporary

SUFFIXES = (".nii.gz", ".nii", ".nrrd")


@pytest.fixture()
def label() -> np.ndarray:
    """(X, Y, Z) = (37, 29, 11) with classes 0..2 in a box: no axis of the same length, so a swap fails."""
    values = np.zeros((37, 29, 11), np.uint8)
    values[5:20, 3:9, 2:7] = np.random.default_rng(0).integers(0, 3, (15, 6, 5))
    return values


@pytest.fixture()
def oblique() -> np.ndarray:
    """A rotated grid with anisotropic voxels (1.2 x 0.9 x 3 mm), voxel -> RAS mm."""
    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_euler("xyz", [10, -20, 35], degrees=True).as_matrix() @ np.diag([1.2, 0.9, 3.0])
    affine[:3, 3] = [10.0, -5.0, 7.0]
    return affine


def reference_image(label: np.ndarray, affine: np.ndarray, tmp_path) -> sitk.Image:
    """How ITK reads the same label saved by nibabel (qform and sform code 1), the project's image writer."""
    image = nib.Nifti1Image(label, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, tmp_path / "reference.nii.gz")
    return sitk.ReadImage(str(tmp_path / "reference.nii.gz"))


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("compress", [False, True])
def test_every_format_reads_back_on_the_same_grid(label, oblique, tmp_path, suffix, compress):
    path = write_label(label, oblique, tmp_path / f"answer{suffix}", compress=compress)
    read = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read).transpose(2, 1, 0), label)  # ITK: (Z, Y, X)
    reference = reference_image(label, oblique, tmp_path)
    np.testing.assert_allclose(read.GetOrigin(), reference.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(read.GetSpacing(), reference.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(read.GetDirection(), reference.GetDirection(), atol=1e-5)
    if suffix == ".nrrd":
        data, header = nrrd.read(str(path))
        assert header["encoding"] == ("gzip" if compress else "raw") and header["type"] == "uint8"
        np.testing.assert_array_equal(data, label)
    else:
        loaded = nib.load(path)
        np.testing.assert_allclose(loaded.affine, oblique, atol=1e-5)
        assert loaded.get_data_dtype() == np.uint8
        np.testing.assert_array_equal(np.asarray(loaded.dataobj), label)
        with open(path, "rb") as raw:
            assert (raw.read(2) == b"\x1f\x8b") == (suffix == ".nii.gz")  # .nii.gz always gzip, .nii never


def test_an_empty_label_and_a_full_one_are_written(oblique, tmp_path):
    for values in (np.zeros((8, 9, 10), bool), np.ones((8, 9, 10), bool)):
        path = write_label(values, oblique, tmp_path / "answer.nii.gz")
        np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj), values.astype(np.uint8))


def test_another_type_when_the_client_asks(label, oblique, tmp_path):
    path = write_label(label, oblique, tmp_path / "answer.nrrd", dtype="uint16")
    data, header = nrrd.read(str(path))
    assert header["type"] == "uint16" and data.dtype == np.uint16
    np.testing.assert_array_equal(data, label)


def test_gzip_is_the_fast_level(label, oblique, tmp_path):
    path = write_label(label, oblique, tmp_path / "answer.nii.gz")
    assert gzip.decompress(path.read_bytes())[:4] == (348).to_bytes(4, "little")  # a NIfTI-1 header inside


def test_bad_requests_are_refused(label, oblique, tmp_path):
    with pytest.raises(ValueError, match="ends in one of"):
        write_label(label, oblique, tmp_path / "answer.mha")
    with pytest.raises(ValueError, match=r"\(X, Y, Z\)"):
        write_label(label[None], oblique, tmp_path / "answer.nii")
    with pytest.raises(ValueError, match="NRRD cannot hold"):
        write_label(label, oblique, tmp_path / "answer.nrrd", dtype="complex64")


def test_foreground_box_and_suffix():
    values = np.zeros((10, 11, 12), np.uint8)
    assert foreground_box(values) is None
    values[2, 3:5, 7] = 1
    assert foreground_box(values) == (slice(2, 3), slice(3, 5), slice(7, 8))
    assert [suffix_of(p) for p in ("a.nii.gz", "A.NII", "b.nrrd", "c.seg.nrrd", "d.mha", None)] == \
        [".nii.gz", ".nii", ".nrrd", ".nrrd", ".nii.gz", ".nii.gz"]


def test_a_temporary_answer_keeps_its_suffix(label, oblique):
    path = write_label_temporary(label, oblique, ".nrrd")
    try:
        assert path.endswith(".nrrd")
        np.testing.assert_array_equal(nrrd.read(path)[0], label)
    finally:
        import os

        os.unlink(path)


def test_a_label_in_several_boxes_reads_back_from_its_gzip_members(oblique, tmp_path):
    """Two structures 30 slices apart, zero slices before, between and after: ITK (zlib's gzread) and
    nibabel read the multi-member .nii.gz whole, with the boxes named or found."""
    values = np.zeros((40, 33, 60), np.uint8)
    values[3:9, 4:30, 5:12] = 1
    values[20:38, 2:5, 40:58] = 2
    values[21, 3, 45] = 0
    boxes = [(slice(3, 9), slice(4, 30), slice(5, 12)), (slice(20, 38), slice(2, 5), slice(40, 58)),
             (slice(0, 10), slice(0, 33), slice(8, 20))]  # overlapping the first, mostly empty
    for named in (None, boxes):
        path = write_label(values, oblique, tmp_path / "answer.nii.gz", boxes=named)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))).transpose(2, 1, 0), values)
        np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj), values)
        raw = path.read_bytes()
        assert raw.count(b"\x1f\x8b\x08") >= 3  # several members: the zero runs are kept members
        assert gzip.decompress(raw)[352:] == values.transpose(2, 1, 0).tobytes()


def test_named_boxes_are_what_is_written(label, oblique, tmp_path):
    """A voxel outside every named box is written as 0 (the caller's word is taken); bad boxes are refused."""
    box = foreground_box(label)
    smaller = (box[0], box[1], slice(box[2].start, box[2].stop - 1))
    reaching_out = (slice(0, 99), slice(0, 5), slice(-5, 99))  # past the grid on both sides: clipped
    path = write_label(label, oblique, tmp_path / "answer.nrrd", boxes=[smaller, reaching_out])
    expected = np.zeros_like(label)
    expected[smaller] = label[smaller]
    expected[:, :5, :] = label[:, :5, :]
    assert expected[:, :5, box[2].stop - 1].any() and not np.array_equal(expected, label)
    np.testing.assert_array_equal(nrrd.read(str(path))[0], expected)
    with pytest.raises(ValueError, match="three unit-step slices"):
        write_label(label, oblique, tmp_path / "answer.nii", boxes=[(slice(0, 4, 2), slice(0, 4), slice(0, 4))])


@pytest.mark.parametrize("seed", range(6))
def test_random_boxes_read_back_in_every_format_and_type(oblique, tmp_path, seed):
    """Up to four random, overlapping boxes of random classes in a random grid: every format and
    stored type reads back voxel for voxel through ITK, and through nibabel / pynrrd, boxes named
    or found (the runs of zeros between, before and after the boxes' rows are zeros on disk)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(3, 40, 3))
    values, boxes = np.zeros(shape, np.uint8), []
    for _ in range(int(rng.integers(1, 5))):
        low = [int(rng.integers(0, n)) for n in shape]
        box = tuple(slice(a, int(min(n, a + rng.integers(1, 15)))) for a, n in zip(low, shape))
        values[box] = np.where(rng.random(values[box].shape) < 0.6, rng.integers(1, 4), 0)
        boxes.append(box)
    for suffix, compress in ((".nii.gz", None), (".nii", None), (".nrrd", False), (".nrrd", True)):
        for dtype in ("uint8", "int16", "float32"):
            for named in (None, boxes):
                path = write_label(values, oblique, tmp_path / f"answer{suffix}", dtype, compress, named)
                back = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).transpose(2, 1, 0)
                other = np.asarray(nib.load(path).dataobj) if suffix != ".nrrd" else nrrd.read(str(path))[0]
                for array in (back, other):
                    assert array.shape == shape and array.dtype == np.dtype(dtype)
                    np.testing.assert_array_equal(array, values)


def test_an_uncompressed_label_ending_early_has_the_whole_size(oblique, tmp_path):
    """A label in the first slices only: the raw file still holds every voxel (its zeros a hole)."""
    values = np.zeros((30, 20, 50), np.uint8)
    values[2:5, 3:6, 0:2] = 1
    path = write_label(values, oblique, tmp_path / "answer.nii")
    assert path.stat().st_size == 352 + values.size
    np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj), values)
    path = write_label(values, oblique, tmp_path / "answer.nrrd")
    data, header = nrrd.read(str(path))
    np.testing.assert_array_equal(data, values)
    last = int(np.ravel_multi_index((4, 5, 1), values.shape, order="F"))  # the last label voxel, i fastest
    assert path.read_bytes().endswith(b"\x01" + bytes(values.size - 1 - last))


def test_parts_far_apart_are_written_as_their_own_rows(oblique, tmp_path):
    """Two parts at opposite ends of the slices: each slice gives one run per part (not every row
    between them), and the label reads back voxel for voxel."""
    from lib.imaging.label_file import runs_i_fastest

    values = np.zeros((50, 60, 20), np.uint8)
    boxes = [(slice(3, 9), slice(2, 6), slice(4, 10)), (slice(40, 47), slice(50, 57), slice(6, 12))]
    values[boxes[0]] = 1
    values[boxes[1]] = 2
    runs = list(runs_i_fastest(values, np.dtype("uint8"), boxes))
    assert sum(len(d) for _, d in runs) < 2 * 14 * 9 * 50  # each part's rows only, not 55 rows per slice
    assert sum(z + len(d) for z, d in runs) == values.size
    assert len([d for _, d in runs if d]) == 6 + 6  # one run per part in each of its 6 slices
    for named in (None, boxes):
        path = write_label(values, oblique, tmp_path / "answer.nii.gz", boxes=named)
        np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj), values)
