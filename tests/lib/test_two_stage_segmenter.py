"""2S-ICR as the evaluation harness sees it, and the paper-table report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib.evaluation.harness import evaluate
from lib.evaluation.protocol import InteractiveSegmenter
from lib.interaction.clicks import Click
from lib.two_stage.engine import TwoStageModel
from lib.two_stage.report import write_paper_table
from lib.two_stage.segmenter import TwoStageSegmenter
from tests.lib.test_two_stage_engine import RecordingRefiner, ThresholdStage1, tiny_case


def segmenters():
    model = TwoStageModel([ThresholdStage1(0.5)], [RecordingRefiner()])  # stage 1 misses the 80 HU tumour
    return (TwoStageSegmenter(model, "two_stage_tiny"),
            TwoStageSegmenter(TwoStageModel([ThresholdStage1(0.5)], []), "two_stage_tiny_stage1", refine=False))


def test_it_is_an_interactive_segmenter_whose_zero_click_answer_is_stage_1():
    two_stage, stage1 = segmenters()
    assert isinstance(two_stage, InteractiveSegmenter)
    case = tiny_case("LPS")
    np.testing.assert_array_equal(two_stage.segment(case, [], None), stage1.segment(case, [], None))
    assert stage1.segment(case, [Click((11, 12, 6), True)], None).max() < 0.5  # stage 1 alone ignores clicks


def test_the_segmenter_refines_its_own_last_answer_and_otherwise_the_harness_previous():
    two_stage, _ = segmenters()
    case = tiny_case()
    a, b = Click((11, 12, 6), True), Click((4, 4, 3), False)
    y0 = two_stage.segment(case, [], None)
    y1 = two_stage.segment(case, [a], y0)
    y2 = two_stage.segment(case, [a, b], y1)
    refiner = two_stage.model.refinement[0]
    assert len(refiner.inputs) == 2 and y1[11, 12, 6] > 0.5
    other = TwoStageSegmenter(two_stage.model, "fresh")  # no state: the harness's previous is refined
    planted = np.zeros_like(y1)
    planted[2:5, 2:5, 2:5] = 1.0
    other.segment(case, [a, b], planted)
    assert float(refiner.inputs[-1][0, 1].sum()) == pytest.approx(float(planted.sum()))
    assert y2.shape == case.spatial_shape


def test_harness_run_and_paper_table(tmp_path):
    two_stage, stage1 = segmenters()
    result = evaluate([two_stage, stage1], [tiny_case(), tiny_case("LPS")], "border_distance", 10, 0,
                      click_mode="shared", first_click="prediction")
    rows = result["methods"]["two_stage_tiny"]["rows"]
    assert [r["k"] for r in rows[:11]] == list(range(11))
    (tmp_path / "eval.json").write_text(json.dumps(result))
    report = write_paper_table(tmp_path / "eval.json", stage1="two_stage_tiny_stage1")
    assert report["zero_click_vs_stage1"] == {"two_stage_tiny": 0.0}
    table = report["methods"]["two_stage_tiny"]
    assert table["dsc_10"]["mean"] > table["dsc_0"]["mean"]
    assert set(table) >= {"dsc_1_to_10", "assd_mm_5", "hd95_mm_10", "surface_dice_1", "voxels_changed_per_click"}
    assert "1 to 10 avg." in (tmp_path / "paper_table.md").read_text()
