"""Report files of an evaluation: eval.json, eval.md and dsc_vs_clicks.png."""

from __future__ import annotations

import json

import numpy as np

from lib.evaluation import evaluate, write_report
from lib.evaluation.report import json_safe
from tests.lib.test_evaluation_harness import ClickPainter, Empty, tiny_case


def test_report_files_are_written(tmp_path):
    result = evaluate([ClickPainter(), Empty()], [tiny_case("a"), tiny_case("b")], "din_evaluation", 2, seed=0)
    paths = write_report(result, tmp_path, "run")
    assert {p.name for p in paths.values()} == {"eval.json", "eval.md", "dsc_vs_clicks.png"}
    assert all(p.parent == tmp_path / "run" for p in paths.values())
    saved = json.loads(paths["json"].read_text())
    assert saved["name"] == "run" and set(saved["methods"]) == {"painter", "empty"}
    assert saved["methods"]["painter"]["dsc_at_clicks"].keys() == {"0", "1", "2"}
    assert len(saved["methods"]["empty"]["rows"]) == 6
    table = paths["md"].read_text()
    assert "| painter |" in table and "NoC@0.80" in table and "DSC@2" in table and "DSC@5" not in table
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "run").glob("tmp*"))


def test_json_safe_maps_nan_to_null():
    assert json_safe({"a": [float("nan"), np.float32(1.5), 2]}) == {"a": [None, 1.5, 2]}
