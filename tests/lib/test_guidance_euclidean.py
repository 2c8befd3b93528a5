"""EDT guidance: distance to the nearest click, in voxels or mm."""

import math

import numpy as np
import pytest

from lib.guidance import EuclideanDistanceGuide, euclidean_distance_map


def test_distance_in_voxels_and_mm():
    m = euclidean_distance_map([(0, 0, 0)], (3, 4, 5))
    assert m[0, 0, 0] == 0.0
    assert m[2, 3, 4] == pytest.approx(math.sqrt(4 + 9 + 16))
    mm = euclidean_distance_map([(0, 0, 0)], (3, 4, 5), spacing=(1.0, 2.0, 3.0))
    assert mm[2, 3, 4] == pytest.approx(math.sqrt(4 + 36 + 144))
    assert mm[0, 0, 1] == pytest.approx(3.0)


def test_nearest_of_two_clicks():
    m = euclidean_distance_map([(0, 0, 0), (6, 0, 0)], (7, 1, 1))
    np.testing.assert_allclose(m[:, 0, 0], [0, 1, 2, 3, 2, 1, 0])


def test_truncation_and_normalisation():
    m = euclidean_distance_map([(0, 0, 0)], (7, 1, 1), max_distance=2.0, normalise=True)
    np.testing.assert_allclose(m[:, 0, 0], [0, 0.5, 1, 1, 1, 1, 1])


def test_empty_click_set_gives_the_farthest_value():
    assert np.allclose(euclidean_distance_map([], (3, 4, 5)), math.sqrt(29))
    assert np.allclose(euclidean_distance_map([], (3, 4, 5), spacing=(2, 1, 1)), math.sqrt(16 + 9 + 16))
    assert np.allclose(euclidean_distance_map([], (3, 4, 5), max_distance=3.0), 3.0)
    assert np.allclose(euclidean_distance_map([], (3, 4, 5), max_distance=3.0, normalise=True), 1.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="max_distance"):
        EuclideanDistanceGuide(normalise=True)
    with pytest.raises(ValueError, match="max_distance"):
        EuclideanDistanceGuide(max_distance=-1.0)
    with pytest.raises(ValueError, match="spacing"):
        EuclideanDistanceGuide(units="mm", spacing=(1, 1))
