"""Clicks follow an image through orientation, spacing, crop and resize, and come back."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, LoadImaged, Orientationd, Resized, Spacingd, SpatialCropd

from lib.guidance import ExpDistanceGuided
from lib.interaction.clicks import Click
from lib.interaction.coordinates import (
    MapClicksd,
    indices_to_world,
    map_clicks,
    map_points,
    to_original_indices,
    world_to_indices,
)
from lib.phantom.geometry import make_affine

SHAPE = (10, 12, 6)
SPACING = (1.0, 1.5, 3.0)  # anisotropic, thick slices along k
CLICK = (2, 3, 4)


def write_study(tmp_path: Path, orientation: str, bright: tuple[int, int, int] = CLICK) -> tuple[Path, np.ndarray]:
    """A NIfTI of zeros with one bright voxel; returns its path and affine."""
    affine = make_affine(SHAPE, SPACING, orientation)
    array = np.zeros(SHAPE, np.float32)
    array[bright] = 100.0
    path = tmp_path / f"{orientation}.nii.gz"
    nib.save(nib.Nifti1Image(array, affine), path)
    return path, affine


def pipeline(roi_start=(1, 2, 1)) -> Compose:
    """What a method might apply: RAS, 1 mm isotropic, a crop, a resize (all upsampling, so nothing vanishes)."""
    return Compose(
        [
            LoadImaged("image", ensure_channel_first=True, image_only=True),
            Orientationd("image", axcodes="RAS"),
            Spacingd("image", pixdim=(1.0, 1.0, 1.0), mode="nearest"),
            SpatialCropd("image", roi_start=roi_start, roi_end=(100, 100, 100)),
            Resized("image", spatial_size=(20, 30, 30), mode="nearest"),
            MapClicksd(keys=("clicks", "foreground"), image_key="image"),
        ]
    )


def test_world_round_trip_and_known_values():
    affine = make_affine(SHAPE, SPACING, "RAS")
    centre = (np.asarray(SHAPE) - 1) / 2
    np.testing.assert_allclose(indices_to_world(centre, affine), 0.0, atol=1e-12)
    np.testing.assert_allclose(indices_to_world([centre + (1, 1, 1)], affine), [SPACING])
    oblique = make_affine(SHAPE, SPACING, "oblique")
    points = np.array([[0, 0, 0], [9, 11, 5], [2, 3, 4]])
    assert np.array_equal(world_to_indices(indices_to_world(points, oblique), oblique), points)
    fractional = world_to_indices(indices_to_world([[2.25, 3.5, 4.0]], oblique), oblique, round=False)
    np.testing.assert_allclose(fractional, [[2.25, 3.5, 4.0]])


def test_lps_index_maps_to_flipped_ras_index():
    lps, ras = make_affine(SHAPE, SPACING, "LPS"), make_affine(SHAPE, SPACING, "RAS")
    mapped = map_clicks([Click(CLICK, True)], lps, ras, SHAPE)
    assert mapped == [Click((SHAPE[0] - 1 - 2, SHAPE[1] - 1 - 3, 4), True)]


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_click_lands_on_its_voxel_after_the_transforms_and_comes_back(tmp_path, orientation):
    path, affine = write_study(tmp_path, orientation)
    data = pipeline()({"image": str(path), "clicks": [Click(CLICK, True)], "foreground": [list(CLICK)]})
    image = data["image"]
    bright = np.argwhere(image[0].numpy() > 50)
    assert len(bright) > 0

    (click,) = data["clicks"]
    assert click.positive and data["foreground"] == [list(click.index)]
    nearest = np.abs(bright - np.asarray(click.index)).max(axis=1).min()
    assert nearest <= 1, f"click {click.index} is {nearest} voxels from the bright voxels {bright.tolist()}"
    exact = map_points(CLICK, affine, image.affine, round=False)
    np.testing.assert_allclose(exact, bright.mean(axis=0), atol=1.0)

    assert to_original_indices(click.index, image.affine, affine, SHAPE).tolist() == list(CLICK)
    back = MapClicksd(keys="clicks", to_original=True)(data)["clicks"]
    assert back == [Click(CLICK, True)]


def test_guidance_after_mapping_peaks_on_the_bright_voxel(tmp_path):
    path, _ = write_study(tmp_path, "LPS")
    data = pipeline()({"image": str(path), "clicks": [Click(CLICK, True)], "foreground": []})
    data = ExpDistanceGuided(sigma=1.0)(data)
    peak = np.unravel_index(int(torch.argmax(data["guidance"][0])), data["guidance"].shape[1:])
    assert data["image"][0][peak] > 50


def test_click_outside_the_crop_raises_or_is_dropped(tmp_path):
    path, _ = write_study(tmp_path, "RAS", bright=(0, 0, 0))
    data = {"image": str(path), "clicks": [Click((0, 0, 0), False)], "foreground": None}
    loaded = Compose(list(pipeline(roi_start=(3, 3, 3)).transforms[:-1]))(data)
    with pytest.raises(ValueError, match="outside"):
        MapClicksd(keys="clicks")(loaded)
    assert MapClicksd(keys="clicks", outside="drop")(loaded)["clicks"] == []
    with pytest.raises(ValueError, match="outside the original"):
        to_original_indices([-40, 0, 0], loaded["image"].affine, make_affine(SHAPE, SPACING, "RAS"), SHAPE)


def test_bad_arguments_raise():
    affine = np.eye(4)
    with pytest.raises(ValueError, match="outside"):
        MapClicksd(keys="clicks", outside="clip")
    with pytest.raises(ValueError, match="invertible"):
        map_points([1, 2, 3], np.diag([1.0, 0.0, 1.0, 1.0]), affine)
    with pytest.raises(ValueError, match="4, 4"):
        indices_to_world([1, 2, 3], np.eye(3))
    with pytest.raises(ValueError, match="points"):
        world_to_indices([1, 2], affine)
    with pytest.raises(ValueError, match="not a Click"):
        map_clicks([(1, 2, 3)], affine, affine)
    with pytest.raises(ValueError, match="MetaTensor"):
        MapClicksd(keys="clicks")({"image": torch.zeros(1, 4, 4, 4), "clicks": []})
    image = MetaTensor(torch.zeros(1, 4, 4, 4))
    with pytest.raises(ValueError, match="original_affine"):
        MapClicksd(keys="clicks")({"image": image, "clicks": []})
    with pytest.raises(ValueError, match="foreground"):
        MapClicksd(keys="foreground", original_affine_key="affine")(
            {"image": image, "affine": affine, "foreground": [[1, 2]]}
        )
