"""The evaluation harness's view of the Gaussian-click model."""

from __future__ import annotations

import numpy as np
import pytest

from lib.evaluation.protocol import Case, InteractiveSegmenter, spacing_of
from lib.gaussian_click.segmenter import GaussianClickSegmenter
from lib.interaction.clicks import Click
from lib.phantom.geometry import make_affine
from tests.lib.gaussian_click_data import SHAPE, SPACING, GuidanceEcho


def make_case(orientation: str) -> Case:
    affine = make_affine(SHAPE, SPACING, orientation)
    image = np.full((1, *SHAPE), -1000.0, np.float32)
    truth = np.zeros(SHAPE, bool)
    truth[4:9, 10:15, 2:5] = True
    image[0][truth] = 40.0
    return Case("tiny", image, truth, spacing_of(affine), affine, "gtv")


def test_it_is_an_interactive_segmenter():
    assert isinstance(GaussianClickSegmenter(network=GuidanceEcho()), InteractiveSegmenter)
    assert GaussianClickSegmenter(network=GuidanceEcho(), dims=3).name == "gaussian_click_3d"


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_2d_answers_the_newest_clicks_slice_and_keeps_the_rest(orientation):
    case = make_case(orientation)
    segmenter = GaussianClickSegmenter(network=GuidanceEcho(), dims=2)
    previous = np.zeros(SHAPE, np.float32)
    previous[:, :, 2] = 0.7  # an earlier answer on slice 2
    previous[:, :, 3] = 0.9  # and one on slice 3, which the new click replaces
    clicks = [Click((6, 12, 2), True), Click((6, 12, 3), True)]
    answer = segmenter.segment(case, clicks, previous)
    assert answer.shape == SHAPE and answer.dtype == np.float32
    np.testing.assert_array_equal(answer[:, :, 2], previous[:, :, 2])
    assert np.unravel_index(answer[:, :, 3].argmax(), SHAPE[:2]) == (6, 12)
    assert answer[0, 0, 3] < 0.01  # slice 3 is the new answer everywhere, not the old 0.9
    assert not answer[:, :, 4:].any()


def test_no_foreground_click_gives_the_previous_answer_or_nothing():
    case = make_case("RAS")
    segmenter = GaussianClickSegmenter(network=GuidanceEcho())
    assert not segmenter.segment(case, [], None).any()
    previous = np.full(SHAPE, 0.3, np.float32)
    np.testing.assert_array_equal(segmenter.segment(case, [Click((1, 1, 1), False)], previous), previous)


def test_3d_answers_around_the_clicks():
    case = make_case("LPS")
    answer = GaussianClickSegmenter(network=GuidanceEcho(), dims=3).segment(case, [Click((6, 12, 3), True)], None)
    assert answer.shape == SHAPE and answer[6, 12, 3] > 0.5
