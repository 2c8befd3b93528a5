"""Label files against their image: grid, values, and Slicer's segment order mapped by name."""

import nibabel as nib
import numpy as np
import pytest

from lib.label_check import (
    check_same_grid,
    check_values,
    indexed_value_map,
    read_grid,
    read_label,
    read_raw_label,
    remap,
    segment_value_map,
    write_label_like,
)


def _save(path, array, affine):
    nib.save(nib.Nifti1Image(array, affine), path)
    return str(path)


@pytest.fixture
def grid(tmp_path):
    affine = np.array([[0, 0, 2.0, 10], [0, -1.5, 0, 20], [1.0, 0, 0, -5], [0, 0, 0, 1]])
    label = np.zeros((6, 5, 4), np.uint8)
    label[1, 2, 3] = 2
    return tmp_path, affine, label


def test_a_label_on_the_image_grid_passes_and_round_trips_through_nrrd(grid):
    folder, affine, label = grid
    image = read_grid(_save(folder / "image.nii.gz", label.astype(np.int16), affine))
    array, own = read_label(_save(folder / "label.nii.gz", label, affine))
    check_same_grid(own, image)
    assert array.shape == (6, 5, 4) and array[1, 2, 3] == 2
    write_label_like(array, own, str(folder / "label.nrrd"))
    again, nrrd_grid = read_label(str(folder / "label.nrrd"))
    check_same_grid(nrrd_grid, image)
    np.testing.assert_array_equal(again, array)


def test_shape_and_geometry_mismatches_are_named(grid):
    folder, affine, label = grid
    image = read_grid(_save(folder / "image.nii.gz", label, affine))
    _, small = read_label(_save(folder / "small.nii.gz", label[:3], affine))
    with pytest.raises(ValueError, match="shape"):
        check_same_grid(small, image)
    moved = affine.copy()
    moved[0, 3] += 3
    _, shifted = read_label(_save(folder / "moved.nii.gz", label, moved))
    with pytest.raises(ValueError, match="geometry"):
        check_same_grid(shifted, image)


def test_values_must_be_integers_among_the_allowed():
    assert check_values(np.array([0, 1, 2.0]), {0, 1, 2}).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"values \[5\]"):
        check_values(np.array([0, 5]), {0, 1, 2})
    with pytest.raises(ValueError, match="integers"):
        check_values(np.array([0, 0.5]), {0, 1})


def test_slicer_segments_map_by_name_not_by_their_idx():
    mapping = segment_value_map([{"name": "heart", "idx": 2}, {"name": "GTV", "idx": 3}], {"gtv": 1, "heart": 2})
    assert mapping == {1: 2, 2: 1}
    assert remap(np.array([[[0, 1, 2]]]), mapping).tolist() == [[[0, 2, 1]]]
    with pytest.raises(ValueError, match="'liver'"):
        segment_value_map([{"name": "liver", "idx": 1}], {"gtv": 1})


def test_a_raw_ohif_label_is_read_i_fastest_on_the_image_grid(grid):
    folder, affine, label = grid
    image = read_grid(_save(folder / "image.nii.gz", label.astype(np.int16), affine))
    raw = folder / "label.bin"
    label.ravel(order="F").tofile(raw)  # OHIF's voxel order: i fastest, then j, then k
    assert np.array_equal(read_raw_label(str(raw), image), label)
    (folder / "short.bin").write_bytes(b"\x01" * 10)
    with pytest.raises(ValueError, match="10 voxels"):
        read_raw_label(str(folder / "short.bin"), image)


def test_ohif_segment_idx_is_the_value_in_the_file_and_names_map_to_the_app():
    labels = {"gtv": 1, "heart": 2}
    mapping = indexed_value_map([{"name": "Heart", "idx": 1}, {"name": "gtv", "idx": 3}], labels)
    assert mapping == {1: 2, 3: 1}
    array = np.array([[[0, 1, 3]]], np.uint8)
    assert remap(array, mapping).tolist() == [[[0, 2, 1]]]
    with pytest.raises(ValueError, match="liver"):
        indexed_value_map([{"name": "liver", "idx": 1}], labels)
    with pytest.raises(ValueError, match="idx"):
        indexed_value_map([{"name": "gtv", "idx": "1"}], labels)
