"""Random walker and graph cut baselines on a tiny bright cube in noise; arrays are (X, Y, Z)."""

from __future__ import annotations

import numpy as np
import pytest

from lib.evaluation import Case
from lib.evaluation.baselines import GraphCutSegmenter, RandomWalkerSegmenter
from lib.evaluation.baselines.seeds import ball_offsets, click_seeds, normalised_ct
from lib.interaction.clicks import Click
from lib.metrics import dice

BASELINES = [RandomWalkerSegmenter, GraphCutSegmenter]


def cube_case(size: int = 24, lo: int = 8, hi: int = 16, spacing=(1.0, 1.0, 1.0)) -> Case:
    """A 150 HU brighter cube in 25 HU noise around 40 HU."""
    rng = np.random.default_rng(7)
    image = (40.0 + rng.normal(0.0, 25.0, (1, size, size, size))).astype(np.float32)
    truth = np.zeros((size, size, size), dtype=bool)
    truth[lo:hi, lo:hi, lo:hi] = True
    image[0][truth] += 150.0
    return Case("cube", image, truth, spacing, np.diag([*spacing, 1.0]))


@pytest.mark.parametrize("factory", BASELINES)
def test_no_click_gives_empty_answer(factory):
    case = cube_case()
    answer = factory().segment(case, [], None)
    assert answer.shape == case.spatial_shape and answer.dtype == np.float32
    assert not answer.any()


@pytest.mark.parametrize("factory", BASELINES)
def test_one_foreground_click_finds_the_cube(factory):
    case = cube_case()
    answer = factory().segment(case, [Click((12, 12, 12), True)], None)
    assert answer.min() >= 0.0 and answer.max() <= 1.0
    assert dice(answer > 0.5, case.truth) > 0.7


@pytest.mark.parametrize("factory", BASELINES)
def test_answer_follows_the_clicks(factory):
    """A click on a second, separate cube adds it; a background click there removes it again.

    2 mm voxels put the cubes 38 mm apart, beyond the graph cut's 12 mm click prior.
    """
    case = cube_case(size=24, lo=3, hi=9, spacing=(2.0, 2.0, 2.0))
    case.image[0, 14:20, 14:20, 14:20] += 150.0  # a second bright cube, not in the truth
    segmenter = factory()
    one = segmenter.segment(case, [Click((6, 6, 6), True)], None) > 0.5
    both = segmenter.segment(case, [Click((6, 6, 6), True), Click((17, 17, 17), True)], None) > 0.5
    undone = segmenter.segment(case, [Click((6, 6, 6), True), Click((17, 17, 17), False)], None) > 0.5
    assert not one[17, 17, 17] and both[17, 17, 17] and not undone[17, 17, 17]
    assert dice(one, case.truth) > 0.7 and dice(undone, case.truth) > 0.7


def test_seeds_are_balls_in_mm_and_disjoint():
    assert len(ball_offsets(3.0, (3.0, 3.0, 6.0))) == 5  # in-plane cross, one slice
    clicks = [Click((5, 5, 5), True), Click((6, 5, 5), False)]
    fg, bg = click_seeds(clicks, (12, 12, 12), (1.0, 1.0, 1.0), radius_mm=2.0)
    assert not (fg & bg).any()
    assert fg[5, 5, 5] and bg[6, 5, 5]
    assert bg[0, 0, 0] and bg[11, 11, 11]  # the ROI border is background


def test_ct_window_scales_to_unit_range():
    image = np.array([-1000.0, -200.0, 0.0, 200.0, 1000.0], dtype=np.float32).reshape(1, 5, 1, 1)
    np.testing.assert_allclose(normalised_ct(image).ravel(), [0.0, 0.0, 0.5, 1.0, 1.0])
