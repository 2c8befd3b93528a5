"""The slice-rule report's arithmetic: picks, shares of an oracle's gain, the held-out / validation title."""

import numpy as np
import pytest

from lib.active_learning.slice_rules import _share, markdown, pick

MEANS = {"base": 0.70, "random_draw": 0.80, "random_expected": 0.82, "oracle": 0.90, "oracle_table": 0.92,
         "truth_most_wrong": 0.86, "truth_most_missed": 0.85, "rule": 0.84}


def test_pick_is_the_top_allowed_slice_ties_to_the_lower_index():
    scores = np.array([5.0, 1.0, 3.0, 3.0, 9.0])
    assert pick(scores, [1, 2, 3]) == 2  # slice 4 scores more but is not a candidate; 2 and 3 tie
    assert pick(scores, [0, 4]) == 4


def test_share_is_the_fraction_of_the_oracles_gain_over_random():
    assert _share(MEANS, "rule") == pytest.approx((0.84 - 0.80) / (0.90 - 0.80))  # default: oracle vs the draw
    assert _share(MEANS, "rule", "truth_most_wrong") == pytest.approx(0.04 / 0.06)
    assert _share(MEANS, "rule", "truth_most_wrong", "random_expected") == pytest.approx(0.02 / 0.04)
    assert _share(MEANS, "random_draw") == 0.0
    assert np.isnan(_share({**MEANS, "oracle": 0.80}, "rule"))  # an oracle no better than random: no share


def _result(case_names: list[str]) -> dict:
    shares = {"share_vs_draw": _share(MEANS, "rule"),
              "share_vs_expected": _share(MEANS, "rule", random="random_expected"),
              "share_truth_oracle_vs_draw": _share(MEANS, "rule", "truth_most_wrong"),
              "share_truth_oracle_vs_expected": _share(MEANS, "rule", "truth_most_wrong", "random_expected")}
    return {"cases": len(case_names), "means": MEANS, "per_case": {n: {} for n in case_names},
            "rules": {"rule": {"dsc": MEANS["rule"], **shares}}, "command": "python -m x"}


def test_the_report_names_held_out_or_validation_and_gives_both_oracles_shares():
    held_out = markdown(_result(["test_0900", "test_0901"]))
    assert held_out.startswith("# Slice-ranking rules on held-out phantoms")
    assert "| rule | 0.840 | 0.40 | 0.25 | 0.67 / 0.50 | - | - |" in held_out
    assert markdown(_result(["test_0900", "val_0800"])).startswith("# Slice-ranking rules on validation phantoms")
