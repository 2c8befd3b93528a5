"""Comparing two harness runs: the table, the loss check, and refusal when the runs are not comparable."""

import json

import pytest

from lib.evaluation.compare import compare, main, markdown, worst_loss

PROTOCOL = {"simulator": "din_evaluation", "click_mode": "own", "reference": None, "first_click": "empty", "seed": 0,
            "phantoms": {"first_seed": 900, "structure": "gtv"}}


def run(methods: dict[str, dict[int, float]], cases=("a", "b"), **protocol) -> dict:
    """An ``eval.json``-shaped run: per method its DSC after k clicks."""
    return {**PROTOCOL, **protocol, "cases": list(cases),
            "methods": {m: {"dsc_at_clicks": {str(k): v for k, v in dsc.items()}} for m, dsc in methods.items()}}


def test_differences_per_method_and_click_and_the_worst_loss():
    before = run({"din": {1: 0.70, 5: 0.80}, "graph_cut": {1: 0.40, 5: 0.75}})
    after = run({"din": {1: 0.72, 5: 0.77}, "new": {1: 0.5, 5: 0.6}})
    result = compare(before, after, [1, 5, 10])
    assert result["rows"]["din"][1]["difference"] == pytest.approx(0.02)
    assert result["rows"]["din"][5]["difference"] == pytest.approx(-0.03)
    assert result["rows"]["din"][10]["difference"] is None  # past both runs' clicks
    assert result["only_before"] == ["graph_cut"] and result["only_after"] == ["new"]
    assert worst_loss(result) == pytest.approx(0.03)
    table = markdown(result, [1, 5, 10])
    assert "| din | 0.700 / 0.720 / +0.020 | 0.800 / 0.770 / -0.030 | - |" in table
    assert "Only before: graph_cut; only after: new." in table


def test_runs_on_other_cases_or_another_protocol_are_refused():
    base = run({"din": {1: 0.7}})
    with pytest.raises(ValueError, match="different cases"):
        compare(base, run({"din": {1: 0.7}}, cases=("a", "c")), [1])
    with pytest.raises(ValueError, match="simulator"):
        compare(base, run({"din": {1: 0.7}}, simulator="gaussian_click"), [1])


def test_the_command_exits_1_past_the_tolerance_and_2_when_it_cannot_compare(tmp_path, capsys):
    before, after, other = tmp_path / "before.json", tmp_path / "after.json", tmp_path / "other.json"
    before.write_text(json.dumps(run({"din": {5: 0.80}})))
    after.write_text(json.dumps(run({"din": {5: 0.79}})))
    other.write_text(json.dumps(run({"din": {5: 0.79}}, seed=1)))
    assert main([str(before), str(after), "--clicks", "5", "--tolerance", "0.02"]) == 0
    assert "| din | 0.800 / 0.790 / -0.010 |" in capsys.readouterr().out
    assert main([str(before), str(after), "--clicks", "5", "--tolerance", "0.005"]) == 1
    assert main([str(before), str(other)]) == 2
    assert "seed" in capsys.readouterr().err
    assert main([str(before), str(tmp_path / "missing.json")]) == 2
