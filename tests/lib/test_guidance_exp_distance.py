"""ExpDT (DIN) values computed by hand on tiny volumes."""

import math

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from lib.guidance import DIN_SIGMA_VOXELS, ExpDistanceGuide, ExpDistanceGuided, exp_distance_map
from lib.interaction.clicks import Click


def test_one_click_isotropic_values():
    m = exp_distance_map([(2, 2, 2)], (5, 5, 5), sigma=(1, 1, 1), gamma=2.0)
    assert m.shape == (5, 5, 5) and m.dtype == np.float32
    assert m[2, 2, 2] == pytest.approx(2.0)
    assert m[3, 2, 2] == pytest.approx(2.0 * math.exp(-0.5))
    assert m[2, 2, 0] == pytest.approx(2.0 * math.exp(-2.0))
    assert m[3, 3, 2] == pytest.approx(2.0 * math.exp(-1.0))
    assert m[4, 4, 4] == pytest.approx(2.0 * math.exp(-6.0))
    assert m.max() == pytest.approx(2.0)


def test_anisotropic_sigma_is_in_xyz_order():
    m = exp_distance_map([(2, 2, 2)], (5, 5, 5), sigma=(2.0, 1.0, 0.5))
    assert m[3, 2, 2] == pytest.approx(math.exp(-1 / 8))  # x: sigma 2
    assert m[2, 3, 2] == pytest.approx(math.exp(-1 / 2))  # y: sigma 1
    assert m[2, 2, 3] == pytest.approx(math.exp(-2.0))  # z: sigma 0.5


def test_din_default_is_flat_along_z():
    assert DIN_SIGMA_VOXELS == (5.0, 5.0, 1.0)
    m = exp_distance_map([(10, 10, 3)], (21, 21, 7))
    assert m[15, 10, 3] == pytest.approx(math.exp(-0.5))  # 5 voxels along X
    assert m[10, 15, 3] == pytest.approx(math.exp(-0.5))  # 5 voxels along Y
    assert m[10, 10, 4] == pytest.approx(math.exp(-0.5))  # 1 slice along Z


def test_two_clicks_take_the_max_not_the_sum():
    m = exp_distance_map([(1, 2, 2), (3, 2, 2)], (5, 5, 5), sigma=1)
    assert m[2, 2, 2] == pytest.approx(math.exp(-0.5))
    assert m[1, 2, 2] == pytest.approx(1.0)
    assert m[0, 2, 2] == pytest.approx(math.exp(-0.5))


def test_sigma_in_mm_with_spacing_equals_sigma_in_voxels():
    spacing = (2.0, 1.0, 3.0)
    in_mm = exp_distance_map([(2, 2, 2)], (5, 5, 5), sigma=(2.0, 1.0, 3.0), spacing=spacing)
    in_voxels = exp_distance_map([(2, 2, 2)], (5, 5, 5), sigma=1.0)
    np.testing.assert_allclose(in_mm, in_voxels)
    assert in_mm[3, 2, 2] == pytest.approx(math.exp(-0.5))  # 2 mm away, sigma 2 mm


def test_no_click_gives_zeros():
    m = exp_distance_map([], (4, 5, 6))
    assert m.shape == (4, 5, 6) and not m.any()


def test_local_window_matches_full_formula_and_is_zero_far_away():
    shape, sigma, gamma = (16, 12, 8), np.array([3.0, 2.0, 1.0]), 1.5
    points = [(2, 3, 1), (12, 9, 6), (15, 0, 7)]
    grid = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), axis=-1)
    full = np.max([gamma * np.exp(-(((grid - p) / sigma) ** 2).sum(-1) / 2) for p in points], axis=0)
    m = exp_distance_map(points, shape, sigma=tuple(sigma), gamma=gamma)
    np.testing.assert_allclose(m, full, atol=gamma * math.exp(-8) + 1e-7)
    assert exp_distance_map([(0, 0, 0)], (16, 16, 16), sigma=1, truncate=4)[15, 15, 15] == 0.0


def test_values_do_not_depend_on_image_size():
    small = exp_distance_map([(4, 4, 4)], (9, 9, 9), sigma=(2, 2, 1))
    large = exp_distance_map([(4, 4, 4)], (21, 17, 9), sigma=(2, 2, 1))
    np.testing.assert_array_equal(small, large[:9, :9, :9])


def test_guide_reads_spacing_from_metatensor_affine():
    img = MetaTensor(torch.zeros(1, 5, 5, 5), affine=torch.diag(torch.tensor([2.0, 1.0, 3.0, 1.0])))
    clicks = [Click((2, 2, 2), True), Click((0, 0, 0), False)]
    guidance = ExpDistanceGuide(sigma=(2.0, 1.0, 3.0), units="mm")(img, clicks)
    assert isinstance(guidance, MetaTensor) and guidance.shape == (2, 5, 5, 5) and guidance.dtype == torch.float32
    expected = exp_distance_map([(2, 2, 2)], (5, 5, 5), sigma=1.0)
    np.testing.assert_allclose(guidance[0].numpy(), expected)
    assert guidance[1, 0, 0, 0] == pytest.approx(1.0)


def test_dictionary_wrapper_with_monai_label_points():
    data = {"image": np.zeros((1, 5, 5, 5), np.float32), "foreground": [[2, 2, 2]]}
    guide = ExpDistanceGuided(sigma=1, gamma=3.0, clicks_key=None, foreground_key="foreground", background_key="bg")
    out = guide(data)
    assert out["guidance"][0, 2, 2, 2] == pytest.approx(3.0)
    assert not out["guidance"][1].any()  # no background key: no background clicks


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sigma": 0},
        {"sigma": (1, 2)},
        {"sigma": (1, -1, 1)},
        {"sigma": float("nan")},
        {"gamma": 0},
        {"units": "cm"},
        {"spacing": (1, 1, 1)},  # spacing with units='voxel'
        {"units": "mm", "spacing": (1, 0, 1)},
        {"truncate": 0},
    ],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        ExpDistanceGuide(**kwargs)


def test_bad_points_and_missing_spacing_raise():
    with pytest.raises(ValueError, match="outside"):
        exp_distance_map([(5, 0, 0)], (5, 5, 5), sigma=1)
    with pytest.raises(ValueError, match="spatial_shape"):
        exp_distance_map([], (5, 5), sigma=1)
    with pytest.raises(ValueError, match="MetaTensor"):
        ExpDistanceGuide(units="mm")(np.zeros((1, 4, 4, 4)), [Click((1, 1, 1), True)])
