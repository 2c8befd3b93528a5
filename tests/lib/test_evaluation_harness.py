"""The evaluation harness with trivial segmenters on a tiny case; arrays are (X, Y, Z)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from lib.evaluation import Case, evaluate, replay_session, run_session
from lib.evaluation.harness import clicks_of
from lib.evaluation.simulators import SIMULATORS, get_simulator
from lib.evaluation.summary import clicks_to_reach, summarise
from lib.metrics import all_metrics

MAX_CLICKS = 3


def tiny_case(case_id: str = "tiny") -> Case:
    truth = np.zeros((10, 10, 6), dtype=bool)
    truth[3:7, 3:7, 2:4] = True
    image = np.where(truth, 100.0, 0.0)[None].astype(np.float32)
    return Case(case_id, image, truth, (2.0, 2.0, 3.0), np.diag([2.0, 2.0, 3.0, 1.0]))


@dataclass
class Oracle:
    name: str = "oracle"

    def segment(self, case, clicks, previous):
        return case.truth.astype(np.float32)


@dataclass
class Empty:
    name: str = "empty"

    def segment(self, case, clicks, previous):
        return np.zeros(case.spatial_shape, dtype=np.float32)


@dataclass
class ClickPainter:
    """Marks a 3x3x1 patch at each positive click and clears it at each negative one."""

    name: str = "painter"

    def segment(self, case, clicks, previous):
        answer = np.zeros(case.spatial_shape, dtype=np.float32)
        for c in clicks:
            i, j, k = c.index
            answer[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2, k] = float(c.positive)
        return answer


def test_oracle_session_is_perfect_from_the_start():
    rows = run_session(Oracle(), tiny_case(), get_simulator("din_evaluation"), MAX_CLICKS, np.random.default_rng(0))
    assert [r["k"] for r in rows] == list(range(MAX_CLICKS + 1))
    assert all(r["dsc"] == 1.0 for r in rows)
    assert rows[0]["click"] is None and rows[0]["voxels_changed"] is None
    assert set(all_metrics(np.ones((2, 2, 2)), np.ones((2, 2, 2)), (1, 1, 1))) <= set(rows[0])


def test_first_click_is_chosen_against_an_empty_prediction():
    """Against the oracle's perfect answer there would be no click; against zeros there is one, positive."""
    rows = run_session(Oracle(), tiny_case(), get_simulator("din_evaluation"), 1, np.random.default_rng(0))
    assert rows[1]["click"]["positive"] and rows[1]["foreground_clicks"] == 1
    rows = run_session(
        Oracle(), tiny_case(), get_simulator("din_evaluation"), 1, np.random.default_rng(0), first_click="prediction"
    )
    assert rows[1]["click"] is None  # the user had nothing to correct


def test_clicks_follow_the_current_prediction():
    simulator = get_simulator("din_evaluation")
    rows = run_session(ClickPainter(), tiny_case(), simulator, MAX_CLICKS, np.random.default_rng(0))
    clicks = clicks_of(rows)
    assert len(clicks) == MAX_CLICKS and len({c.index for c in clicks}) == MAX_CLICKS  # each fixes a new error
    assert rows[1]["voxels_changed"] > 0 and rows[1]["dsc"] > rows[0]["dsc"]


@pytest.mark.parametrize("simulator", sorted(SIMULATORS))
def test_every_simulator_runs(simulator):
    rows = run_session(ClickPainter(), tiny_case(), get_simulator(simulator), 2, np.random.default_rng(1))
    assert len(rows) == 3 and rows[1]["click"] is not None


def test_evaluate_summary_keys_and_noc():
    result = evaluate([Oracle(), Empty()], [tiny_case("a"), tiny_case("b")], "din_evaluation", MAX_CLICKS, seed=0)
    assert result["cases"] == ["a", "b"] and result["click_mode"] == "own"
    for summary in result["methods"].values():
        assert {"dsc_at_clicks", "noc", "noc_failed", "worse_click_fraction", "rows"} <= set(summary)
        assert list(summary["dsc_at_clicks"]) == [str(k) for k in range(MAX_CLICKS + 1)]
        assert list(summary["noc"]) == ["0.80", "0.85", "0.90"]
        assert len(summary["rows"]) == 2 * (MAX_CLICKS + 1)
    oracle, empty = result["methods"]["oracle"], result["methods"]["empty"]
    assert oracle["dsc_at_clicks"]["0"] == 1.0 and set(oracle["noc"].values()) == {0.0}
    assert set(oracle["noc_failed"].values()) == {0.0} and oracle["worse_click_fraction"] == 0.0
    assert empty["dsc_at_clicks"][str(MAX_CLICKS)] == 0.0
    assert set(empty["noc"].values()) == {float(MAX_CLICKS)} and set(empty["noc_failed"].values()) == {1.0}


def test_shared_mode_replays_the_reference_clicks():
    cases = [tiny_case("a")]
    result = evaluate([ClickPainter(), Empty()], cases, "border_distance", MAX_CLICKS, seed=3, click_mode="shared")
    assert result["reference"] == "painter"
    clicks = {name: clicks_of(m["rows"]) for name, m in result["methods"].items()}
    assert clicks["painter"] == clicks["empty"] and len(clicks["painter"]) == MAX_CLICKS
    replayed = replay_session(ClickPainter(), cases[0], clicks["painter"], MAX_CLICKS)
    assert [r["dsc"] for r in replayed] == [r["dsc"] for r in result["methods"]["painter"]["rows"]]


def test_random_simulator_is_replayable_by_seed():
    run = lambda: evaluate([ClickPainter()], [tiny_case()], "border_distance", MAX_CLICKS, seed=5)  # noqa: E731
    assert clicks_of(run()["methods"]["painter"]["rows"]) == clicks_of(run()["methods"]["painter"]["rows"])


def test_worse_clicks_and_clicks_to_reach():
    rows = [
        {"case_id": "a", "k": k, "dsc": d, "click": None if k == 0 else {"index": [0, 0, 0], "positive": True},
         "voxels_changed": None if k == 0 else 1, "foreground_clicks": k, "background_clicks": 0, "seconds": 0.0,
         **{m: 0.0 for m in ("voe", "arvd", "sensitivity", "specificity", "hd95_mm", "assd_mm", "surface_dice")}}
        for k, d in enumerate([0.0, 0.7, 0.6, 0.86])
    ]
    summary = summarise(rows, 3)
    assert summary["worse_click_fraction"] == pytest.approx(1 / 3)
    assert summary["noc"] == {"0.80": 3.0, "0.85": 3.0, "0.90": 3.0}
    assert summary["noc_failed"] == {"0.80": 0.0, "0.85": 0.0, "0.90": 1.0}
    assert clicks_to_reach([0.1, 0.95], 0.9, 5) == (1, True)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unique"):
        evaluate([Oracle(), Oracle()], [tiny_case()], "din_evaluation", 1, 0)
    with pytest.raises(ValueError, match="unknown simulator"):
        evaluate([Oracle()], [tiny_case()], "nope", 1, 0)
    with pytest.raises(ValueError, match="reference"):
        evaluate([Oracle()], [tiny_case()], "din_evaluation", 1, 0, click_mode="shared", reference="x")
