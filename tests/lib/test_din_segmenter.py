"""DIN in the evaluation harness: registered, answers on the case grid, box mode, shared clicks."""

from __future__ import annotations

import numpy as np

from lib.din.guides import GuideSettings
from lib.din.segmenter import DinHarnessSegmenter
from lib.evaluation.cases import case_from_phantom
from lib.evaluation.harness import evaluate
from lib.evaluation.registry import registered_names
from lib.interaction.clicks import Click
from lib.phantom import PhantomConfig, generate_phantom
from tests.lib.test_din_predict import GuideEcho


def small_case():
    phantom = generate_phantom(PhantomConfig(seed=3, shape=(48, 40, 16), orientation="LPS"))
    return case_from_phantom(phantom, "gtv", "tiny", margin_mm=12.0)


def test_din_and_its_ablations_are_registered():
    assert {"din", "din_edt_short", "din_input_only_short"} <= set(registered_names())


def test_harness_runs_din_and_a_click_acts_on_its_voxel():
    case = small_case()
    din = DinHarnessSegmenter(network=GuideEcho(), settings=GuideSettings(), name="din")
    click = tuple(int(v) for v in np.argwhere(case.truth)[0])
    answer = din.segment(case, [Click(click, True)], None)
    assert answer.shape == case.spatial_shape and np.unravel_index(answer.argmax(), answer.shape) == click
    assert not din.segment(case, [], None).any()
    result = evaluate([din], [case], "din_evaluation", max_clicks=2, seed=0, click_mode="shared")
    rows = result["methods"]["din"]["rows"]
    assert [r["k"] for r in rows] == [0, 1, 2] and rows[1]["foreground_clicks"] == 1


def test_box_mode_answers_inside_the_boxes_only():
    case = small_case()
    low, high = (0, 0, 0), tuple(n // 2 for n in case.spatial_shape)
    din = DinHarnessSegmenter(network=GuideEcho(), settings=GuideSettings(), boxes_for=lambda c: [(low, high)])
    inside_click = Click(tuple(n // 4 for n in case.spatial_shape), True)
    outside_click = Click(tuple(n - 2 for n in case.spatial_shape), True)
    answer = din.segment(case, [inside_click, outside_click], None)
    assert answer[inside_click.index] > 0.5 and answer[outside_click.index] == 0.0
    assert not answer[high[0] + 1 :].any()
