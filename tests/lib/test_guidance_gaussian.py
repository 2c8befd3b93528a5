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
