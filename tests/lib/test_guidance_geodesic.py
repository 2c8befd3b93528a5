"""Geodesic distance guidance: cheap inside a homogeneous region, dear across an edge."""

import numpy as np
import pytest

from lib.guidance import GeodesicDistanceGuide, GeodesicDistanceGuided, geodesic_distance_map
from lib.interaction.clicks import Click


def step_image() -> np.ndarray:
    """(12, 8, 4): 0 for x < 6, 1 from x = 6 on."""
    image = np.zeros((12, 8, 4), np.float32)
    image[6:] = 1.0
    return image


def test_lower_across_homogeneous_region_than_across_an_edge():
    m = geodesic_distance_map(step_image(), [(3, 4, 2)], edge_weight=10.0)
    same_side, other_side = m[0, 4, 2], m[6, 4, 2]  # both 3 voxels from the click
    assert same_side == pytest.approx(3.0)
    assert other_side > same_side + 5.0
    # once past the edge, crossing a step of height 1 has added edge_weight * 1
    assert m[9, 4, 2] == pytest.approx(6.0 + 10.0)


def test_without_edge_weight_it_is_a_path_length():
    m = geodesic_distance_map(step_image(), [(0, 0, 0)], edge_weight=0.0)
    np.testing.assert_allclose(m[:, 0, 0], np.arange(12))
    mm = geodesic_distance_map(step_image(), [(0, 0, 0)], spacing=(2.0, 1.0, 1.0), edge_weight=0.0)
    np.testing.assert_allclose(mm[:, 0, 0], 2.0 * np.arange(12))


def test_guide_uses_the_chosen_channel_and_empty_background():
    image = np.stack([np.zeros((12, 8, 4), np.float32), step_image()])
    g = GeodesicDistanceGuide(channel=1, edge_weight=10.0, max_distance=20.0)(image, [Click((3, 4, 2), True)])
    assert g.shape == (2, 12, 8, 4)
    assert g[0, 6, 4, 2] > g[0, 0, 4, 2]
    assert np.allclose(g[1], 20.0)  # no background click: the clip value everywhere


def test_dictionary_wrapper_reads_clicks():
    data = {"image": step_image()[None], "clicks": [Click((0, 0, 0), False)]}
    out = GeodesicDistanceGuided(edge_weight=0.0)(data)
    assert out["guidance"][1, 3, 0, 0] == pytest.approx(3.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="edge_weight"):
        GeodesicDistanceGuide(edge_weight=-1.0)
    with pytest.raises(ValueError, match="channel"):
        GeodesicDistanceGuide(channel=-1)
    with pytest.raises(ValueError, match="channel"):
        GeodesicDistanceGuide(channel=2)(np.zeros((1, 4, 4, 4)), [Click((1, 1, 1), True)])
    with pytest.raises(ValueError, match="image"):
        geodesic_distance_map(np.zeros((4, 4)), [(1, 1, 1)])
