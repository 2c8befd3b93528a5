"""Model space and back: a click on a voxel acts on that voxel, whatever the header; answers on the input grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.imaging.prepare import prepare_array, prepare_file
from lib.interaction.clicks import Click
from tests.lib.gaussian_click_data import SHAPE, write_volume

BRIGHT = (5, 13, 3)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
@pytest.mark.parametrize("dims", [2, 3])
def test_click_maps_onto_its_voxel_in_model_space(tmp_path, orientation, dims):
    # bright along z too: the 3D model resamples 4 mm slices to 6 mm
    column = (BRIGHT[0], BRIGHT[1], slice(BRIGHT[2] - 1, BRIGHT[2] + 2))
    path, _, _ = write_volume(tmp_path, orientation, bright=column)
    prepared = prepare_file(path, dims)
    (click,) = prepared.clicks_to_model([Click(BRIGHT, True)])
    image = prepared.image[0].numpy()
    assert click.positive
    # the brightest model voxel (window [-200, 200] HU -> 1.0) is where the click went
    assert image[click.index] == pytest.approx(1.0, abs=0.02) == pytest.approx(image.max(), abs=0.02)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_2d_model_space_keeps_the_input_slices(tmp_path, orientation):
    path, _, _ = write_volume(tmp_path, orientation)
    prepared = prepare_file(path, 2)
    assert prepared.spatial_shape[2] == SHAPE[2]
    assert prepared.input_shape == SHAPE


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_answer_returns_to_the_input_grid_voxel_for_voxel(tmp_path, orientation):
    path, _, _ = write_volume(tmp_path, orientation)
    prepared = prepare_file(path, 2)
    (click,) = prepared.clicks_to_model([Click(BRIGHT, True)])
    answer = np.zeros(prepared.spatial_shape, np.float32)
    answer[click.index] = 1.0
    back = prepared.to_input_grid(answer)
    assert back.shape == SHAPE and back.dtype == np.float32
    assert np.unravel_index(back.argmax(), back.shape) == BRIGHT
    assert back.max() == pytest.approx(1.0, abs=1e-4)


def test_anisotropic_input_is_resampled_in_plane_and_the_click_stays_close(tmp_path):
    shape, spacing = (32, 28, 6), (1.5, 1.5, 5.0)
    bright = (10, 14, 2)
    # 3 x 3 bright patch: a 1.5 mm voxel centre can lie half-way between two 3 mm ones
    path, _, _ = write_volume(tmp_path, "oblique", shape, spacing, bright=(slice(9, 12), slice(13, 16), 2))
    prepared = prepare_file(path, 2)
    assert prepared.spatial_shape[2] == 6
    assert all(m < n for m, n in zip(prepared.spatial_shape[:2], shape[:2]))
    (click,) = prepared.clicks_to_model([Click(bright, True)])
    image = prepared.image[0].numpy()
    assert image[click.index] > 0.5  # inside the bright patch
    answer = np.zeros(prepared.spatial_shape, np.float32)
    answer[click.index] = 1.0
    peak = np.unravel_index(prepared.to_input_grid(answer).argmax(), shape)
    assert peak[2] == bright[2] and max(abs(a - b) for a, b in zip(peak, bright)) <= 1


def test_in_memory_image_is_prepared_like_its_file(tmp_path):
    path, array, affine = write_volume(tmp_path, "LPS", bright=BRIGHT)
    from_file, from_array = prepare_file(path, 3), prepare_array(array[None], affine, 3)
    np.testing.assert_allclose(from_array.image.numpy(), from_file.image.numpy(), atol=1e-5)
    np.testing.assert_allclose(from_array.image.affine.numpy(), from_file.image.affine.numpy(), atol=1e-5)
    assert from_array.clicks_to_model([Click(BRIGHT, True)]) == from_file.clicks_to_model([Click(BRIGHT, True)])


def test_first_input_voxel_maps_to_the_border_when_upsampling(tmp_path):
    path, _, _ = write_volume(tmp_path, "oblique", (8, 8, 4), (9.0, 9.0, 4.0))
    prepared = prepare_file(path, 2)
    clicks = prepared.clicks_to_model([Click((0, 0, 1), True), Click((7, 7, 1), False)])
    shape = prepared.spatial_shape
    assert all(0 <= v < n for c in clicks for v, n in zip(c.index, shape))


@pytest.mark.parametrize(
    "clicks, words",
    [([], "no clicks"), ([Click((24, 0, 0), True)], r"click \[24, 0, 0\] is outside"), ([(1, 2, 3)], "is not a Click")],
)
def test_bad_clicks_are_refused_by_name(tmp_path, clicks, words):
    path, _, _ = write_volume(tmp_path, "RAS")
    with pytest.raises(ValueError, match=words):
        prepare_file(path, 2).clicks_to_model(clicks)


def test_a_2d_image_is_refused(tmp_path):
    import nibabel as nib

    path = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8), np.float32), np.eye(4)), path)
    with pytest.raises(ValueError, match="3D image"):
        prepare_file(path, 2)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
@pytest.mark.parametrize("dims", [2, 3])
def test_resampling_back_equals_monais_inverse_of_the_transforms(tmp_path, orientation, dims):
    from monai.transforms import Compose

    from lib.imaging.prepare import load_transforms, spatial_transforms

    path, _, _ = write_volume(tmp_path, orientation, (20, 18, 6), (2.0, 2.5, 5.0))
    spatial = spatial_transforms(dims)
    forward = Compose(spatial)(Compose(load_transforms())({"image": str(path)}))["image"]
    values = np.random.default_rng(0).random(forward.shape[1:]).astype(np.float32)
    answer = forward.clone()
    answer[0] = torch.from_numpy(values)
    inverted = Compose(spatial).inverse({"image": answer})["image"][0].numpy()
    np.testing.assert_allclose(prepare_file(path, dims).to_input_grid(values), inverted, atol=1e-5)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_region_of_a_slice_answer_is_the_full_answer(tmp_path, orientation):
    from lib.gaussian_click.inputs import slice_window

    path, _, _ = write_volume(tmp_path, orientation, (20, 18, 6), (2.0, 2.5, 5.0))
    prepared = prepare_file(path, 2)
    window = slice_window(prepared.spatial_shape, 3)
    values = np.zeros(prepared.spatial_shape, np.float32)
    values[window.box] = np.random.default_rng(1).random(window.extent)
    region = prepared.input_region(window.box)
    assert region[2].stop - region[2].start <= 3  # one slice and its neighbours, not the volume
    np.testing.assert_allclose(prepared.to_input_grid(values, region), prepared.to_input_grid(values), atol=1e-6)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_the_label_on_the_input_grid_is_the_full_resamplings_threshold(tmp_path, orientation):
    path, _, _ = write_volume(tmp_path, orientation)
    prepared = prepare_file(path, 3)
    volume = np.zeros(prepared.spatial_shape, dtype=np.float32)
    volume[4:9, 5:11, 2:5] = np.random.default_rng(1).uniform(0.3, 1.0, (5, 6, 3))
    expected = prepared.to_input_grid(volume) > 0.5
    label = prepared.to_input_label(volume)
    assert label.shape == prepared.input_shape and expected.any()
    np.testing.assert_array_equal(label, expected)
    assert not prepared.to_input_label(np.zeros_like(volume)).any()


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_an_answer_in_scattered_parts_is_resampled_part_by_part(tmp_path, orientation):
    """Two parts far apart: two boxes, which hold the whole threshold and are smaller than the box of both."""
    path, _, _ = write_volume(tmp_path, orientation)
    prepared = prepare_file(path, 3)
    volume = np.zeros(prepared.spatial_shape, dtype=np.float32)
    volume[1:3, 1:3, 0:2] = 0.9
    far = tuple(n - 3 for n in prepared.spatial_shape)
    volume[far[0]:far[0] + 2, far[1]:far[1] + 2, far[2]:far[2] + 2] = 0.8
    expected = prepared.to_input_grid(volume) > 0.5
    label, boxes = prepared.to_input_label_boxes(volume)
    np.testing.assert_array_equal(label, expected)
    assert len(boxes) == 2
    inside = np.zeros(prepared.input_shape, dtype=bool)
    for box in boxes:
        inside[box] = True
    assert not (expected & ~inside).any() and inside.sum() < 0.5 * inside.size
    merged, one = prepared.to_input_label_boxes(volume, max_boxes=1)  # too many parts: one box around all
    np.testing.assert_array_equal(merged, expected)
    assert len(one) == 1


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
@pytest.mark.parametrize("spacing", [(1.0, 1.2, 2.0), (3.0, 3.0, 4.0), (4.5, 4.0, 10.0)])
def test_a_label_updated_where_the_answer_changed_is_the_label_resampled_whole(tmp_path, orientation, spacing):
    """Scattered parts, a box of the model grid changed (reaching past the grid too): the updated
    label equals the whole resampling, its boxes hold it, and the label it started from is untouched."""
    path, _, _ = write_volume(tmp_path, orientation, shape=(40, 36, 14), spacing=spacing)
    prepared = prepare_file(path, 3)
    rng = np.random.default_rng(sum(map(ord, orientation)) + int(10 * spacing[2]))
    shape = prepared.spatial_shape
    for _ in range(6):
        before = np.where(rng.uniform(size=shape) > 0.97, rng.uniform(0.6, 1.0, shape), 0.0).astype(np.float32)
        low = [int(rng.integers(-2, n)) for n in shape]
        changed = tuple(slice(a, a + int(rng.integers(1, n + 3))) for a, n in zip(low, shape))
        after = before.copy()
        inner = tuple(slice(max(b.start, 0), min(b.stop, n)) for b, n in zip(changed, shape))
        after[inner] = rng.uniform(size=after[inner].shape).astype(np.float32)
        start = prepared.to_input_label_boxes(before)  # scattered parts: many boxes
        kept = start[0].copy()
        mask, boxes = prepared.to_input_label_update(after, start, changed)
        whole = prepared.to_input_grid(after)
        differ = mask != (whole > 0.5)  # an oblique box's resampling may round a value at 0.5 the other way
        assert np.all(np.abs(whole[differ] - 0.5) < 1e-5) and differ.sum() <= 2
        np.testing.assert_array_equal(start[0], kept)
        inside = np.zeros(prepared.input_shape, dtype=bool)
        for box in boxes:
            inside[box] = True
        assert not (mask & ~inside).any()
