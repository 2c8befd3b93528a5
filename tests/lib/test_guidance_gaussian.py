"""Gaussian-click guidance: smoothed impulses normalised to [0, 1]."""

import math

import numpy as np
import pytest

from lib.guidance import GaussianGuide, GaussianGuided, gaussian_click_map
from lib.interaction.clicks import Click


def test_one_click_peaks_at_one_and_falls_as_a_gaussian():
    m = gaussian_click_map([(5, 5, 5)], (11, 11, 11), sigma=2.0)
    assert m.dtype == np.float32
    assert m[5, 5, 5] == pytest.approx(1.0) and m.max() == pytest.approx(1.0)
    assert m[6, 5, 5] == pytest.approx(math.exp(-1 / 8), rel=1e-5)  # 1 voxel, sigma 2
    assert m[5, 5, 8] == pytest.approx(math.exp(-9 / 8), rel=1e-5)
    assert m.min() >= 0.0


def test_sigma_per_axis():
    m = gaussian_click_map([(5, 5, 5)], (11, 11, 11), sigma=(1.0, 2.0, 4.0))
    assert m[6, 5, 5] == pytest.approx(math.exp(-1 / 2), rel=1e-5)
    assert m[5, 6, 5] == pytest.approx(math.exp(-1 / 8), rel=1e-5)
    assert m[5, 5, 6] == pytest.approx(math.exp(-1 / 32), rel=1e-5)


def test_two_far_clicks_both_reach_one():
    m = gaussian_click_map([(1, 1, 1), (14, 14, 14)], (16, 16, 16), sigma=1.0)
    assert m[1, 1, 1] == pytest.approx(1.0) and m[14, 14, 14] == pytest.approx(1.0)


def test_no_click_gives_zeros_and_border_click_still_peaks_at_one():
    assert not gaussian_click_map([], (4, 4, 4)).any()
    assert gaussian_click_map([(0, 0, 0)], (4, 4, 4))[0, 0, 0] == pytest.approx(1.0)


def test_guide_channels_and_concat_to_image():
    clicks = [Click((1, 1, 1), True), Click((3, 3, 3), False)]
    g = GaussianGuide(sigma=1)(np.zeros((1, 5, 5, 5), np.int16), clicks)
    assert g.shape == (2, 5, 5, 5) and g.dtype == np.float32
    assert g[0, 1, 1, 1] == pytest.approx(1.0) and g[1, 3, 3, 3] == pytest.approx(1.0)
    out = GaussianGuided(sigma=1, concat_to_image=True)({"image": np.ones((1, 5, 5, 5), np.int16), "clicks": clicks})
    assert out["image"].shape == (3, 5, 5, 5) and out["image"].dtype == np.float32
    assert "guidance" not in out and (out["image"][0] == 1).all()


def test_bad_sigma_raises():
    with pytest.raises(ValueError, match="sigma"):
        GaussianGuide(sigma=-2)


@pytest.mark.parametrize("seed", range(4))
def test_the_map_is_scipys_gaussian_filter_of_the_impulses(seed):
    # computed kernel by kernel: the same values as filtering the whole volume, at borders and
    # for repeated clicks too
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    for _ in range(25):
        shape = tuple(int(n) for n in rng.integers(1, 30, 3))
        sigma = tuple(float(s) for s in rng.choice([0.4, 1.0, 2.0, 3.3, 6.0], 3))
        points = [tuple(int(rng.integers(0, n)) for n in shape) for _ in range(int(rng.integers(1, 5)))]
        points.append(points[0])
        impulses = np.zeros(shape, np.float32)
        impulses[tuple(np.array(points).T)] = 1.0
        expected = gaussian_filter(impulses, sigma=sigma, mode="constant")
        np.testing.assert_allclose(gaussian_click_map(points, shape, sigma), expected / expected.max(),
                                   rtol=0, atol=1e-6)
