"""The scoring-interference benchmark's bookkeeping: which clicks ran during scoring, the ratio."""

from __future__ import annotations

import sys
import types

import pytest

from benchmarks.scoring_interference import Click, _result_line, inside, running_window, slowdown
from strategies.background import in_scoring_process


def test_only_clicks_inside_the_running_window_count():
    polls = [(0.0, None), (1.0, "SUBMITTED"), (2.0, "RUNNING"), (5.0, "RUNNING"), (6.0, "DONE")]
    window = running_window(polls)
    assert window == (2.0, 5.0)
    clicks = [Click(1.5, 2.5), Click(2.0, 3.0), Click(3.0, 4.0, ok=False), Click(4.0, 5.0), Click(4.5, 5.5)]
    assert inside(clicks, window) == [Click(2.0, 3.0), Click(4.0, 5.0)]
    assert running_window([(0.0, None), (1.0, "DONE")]) is None and inside(clicks, None) == []


def test_slowdown_is_during_over_baseline_per_percentile():
    ratio = slowdown([1.0] * 19 + [2.0], [1.5] * 19 + [2.0])
    assert ratio["p50"] == pytest.approx(1.5)
    assert ratio["p95"] == pytest.approx(1.525 / 1.05)  # numpy's linear p95 of 20 values
    assert slowdown([], [1.0]) == {"p50": None, "p95": None}


def test_the_job_result_is_read_from_its_last_result_line():
    result = '[..] Result: {"scored": {"phantom_0001": 0.2}, "seconds": 3.5}'
    details = ["[..] scoring phantom_0001", result, "[..] bye"]
    assert _result_line(details) == {"scored": {"phantom_0001": 0.2}, "seconds": 3.5}
    assert _result_line(["[..] Result: {truncated"]) is None and _result_line([]) is None


def test_only_monai_labels_scoring_task_counts_as_the_scoring_process(monkeypatch):
    task = types.ModuleType("__main__")
    task.__spec__ = types.SimpleNamespace(name="monailabel.interfaces.utils.app")
    monkeypatch.setitem(sys.modules, "__main__", task)
    assert in_scoring_process(["app.py", "-m", "scoring", "-r", "{}"])
    assert not in_scoring_process(["app.py", "-m", "train", "-r", '{"method": "scoring"}'])
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    assert not in_scoring_process(["app.py", "-m", "scoring"])
