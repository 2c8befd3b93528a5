"""The 2S-ICR paper's table from an evaluation run: DSC at 0, 1, 5, 10 clicks, the 1-to-10 average,
ASSD, HD95 and surface Dice, and voxels changed per click.

    python -m lib.two_stage.report results/two_stage_ct/eval.json [--stage1 two_stage_ct_stage1]
    python -m lib.two_stage.report --merge build/eval/a/eval.json build/eval/b/eval.json \
        --out results --name two_stage_petct --stage1 two_stage_petct_stage1

Reads the harness's ``eval.json`` (every per-case, per-click row) and writes ``paper_table.json``
and ``paper_table.md`` beside it. Per method: mean +- standard deviation over cases of DSC
after k clicks, of each case's mean DSC over clicks 1..10 (the paper's "1 to 10 Avg."), of
ASSD / HD95 (mm) and surface Dice (1 mm) at k = 0, 1, 5, 10, and of the voxels changed per
click (all clicks made; the paper's mask-dropout table). With ``--stage1 NAME`` it also checks
Algorithm 1's promise: each 2S-ICR method's 0-click DSC equals NAME's on every case.

``--merge`` joins shared-click runs made separately (e.g. while some models were still
training) into one ``<out>/<name>/`` run (eval.json, eval.md, plot, paper table): the runs must
have the same reference method, simulator, seed, click limit and cases, and the reference's
clicks must be the same in each (checked), so every method saw the same clicks.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lib.atomic import write_atomically
from lib.evaluation.report import write_report

KS = (0, 1, 5, 10)
SURFACE = ("assd_mm", "hd95_mm", "surface_dice")


def _stats(values: Sequence[float]) -> dict | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite)), "n": len(finite)}


def method_table(rows: Sequence[dict]) -> dict:
    """The paper's numbers of one method's rows (several cases, k = 0..max)."""
    by_case: dict[str, dict[int, dict]] = defaultdict(dict)
    for row in rows:
        by_case[row["case_id"]][int(row["k"])] = row
    table: dict = {"cases": len(by_case)}
    for k in KS:
        at = [c[k] for c in by_case.values() if k in c]
        table[f"dsc_{k}"] = _stats([r["dsc"] for r in at])
        for metric in SURFACE:
            table[f"{metric}_{k}"] = _stats([r[metric] for r in at])
    table["dsc_1_to_10"] = _stats([np.mean([c[k]["dsc"] for k in range(1, 11) if k in c])
                                   for c in by_case.values() if any(k in c for k in range(1, 11))])
    table["voxels_changed_per_click"] = _stats(
        [r["voxels_changed"] for c in by_case.values() for k, r in c.items() if k >= 1 and r["click"] is not None]
    )
    return table


def zero_click_check(methods: dict, stage1: str) -> dict:
    """Per 2S-ICR method: the largest |DSC@0 - stage 1's DSC@0| over cases (0 when Algorithm 1 holds)."""
    reference = {r["case_id"]: r["dsc"] for r in methods[stage1]["rows"] if r["k"] == 0}
    out = {}
    for name, method in methods.items():
        if name == stage1 or not name.startswith("two_stage"):
            continue
        own = {r["case_id"]: r["dsc"] for r in method["rows"] if r["k"] == 0}
        out[name] = float(max(abs(own[c] - reference[c]) for c in reference if c in own))
    return out


def _cell(stats: dict | None, digits: int = 3) -> str:
    return "-" if stats is None else f"{stats['mean']:.{digits}f} +- {stats['std']:.{digits}f}"


def markdown(report: dict) -> str:
    """The tables as Markdown."""
    lines = [f"# 2S-ICR paper table: {report['run']}", "",
             f"Cases: {report['cases']}; simulator `{report['simulator']}`, click mode `{report['click_mode']}` "
             f"(reference `{report['reference']}`), first click against the {report['first_click']} answer.", "",
             "| method | DSC 0 clicks | 1 click | 5 clicks | 10 clicks | 1 to 10 avg. | voxels changed / click |",
             "|---|---|---|---|---|---|---|"]
    for name, t in report["methods"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(t[f"dsc_{k}"]) for k in KS)
                     + f" | {_cell(t['dsc_1_to_10'])} | {_cell(t['voxels_changed_per_click'], 0)} |")
    lines += ["", "| method | k | ASSD (mm) | HD95 (mm) | surface Dice (1 mm) |", "|---|---|---|---|---|"]
    for name, t in report["methods"].items():
        for k in KS:
            lines.append(f"| {name} | {k} | {_cell(t[f'assd_mm_{k}'], 2)} | {_cell(t[f'hd95_mm_{k}'], 2)} | "
                         f"{_cell(t[f'surface_dice_{k}'])} |")
    if report.get("zero_click_vs_stage1") is not None:
        lines += ["", f"0-click check against `{report['stage1']}` (largest per-case |DSC difference|): "
                  + ", ".join(f"{k}: {v:.2e}" for k, v in report["zero_click_vs_stage1"].items())]
    lines += ["", "Mean +- standard deviation over cases. Paper (MDA, N = 67): 2S-ICR 0.713 / 0.762 / 0.824 / "
              "0.847, 1-10 avg. 0.819.", ""]
    return "\n".join(lines)


def write_paper_table(eval_json: Path, stage1: str | None = None) -> dict:
    """Read ``eval_json``, write ``paper_table.json`` / ``.md`` beside it, return the report."""
    result = json.loads(Path(eval_json).read_text())
    report = {
        "run": result.get("name") or result.get("command", {}).get("name", Path(eval_json).parent.name),
        "cases": len(result["cases"]), "simulator": result["simulator"], "click_mode": result["click_mode"],
        "reference": result["reference"], "first_click": result["first_click"],
        "methods": {name: method_table(m["rows"]) for name, m in result["methods"].items()},
        "stage1": stage1,
        "zero_click_vs_stage1": zero_click_check(result["methods"], stage1) if stage1 else None,
    }
    folder = Path(eval_json).parent
    write_atomically(folder / "paper_table.json", lambda tmp: tmp.write_text(json.dumps(report, indent=2)))
    write_atomically(folder / "paper_table.md", lambda tmp: tmp.write_text(markdown(report)))
    return report


SAME = ("simulator", "click_mode", "reference", "first_click", "max_clicks", "seed", "cases")


def _clicks(method: dict) -> list:
    return [(r["case_id"], r["k"], r["click"]) for r in method["rows"]]


def merge_runs(results: Sequence[dict]) -> dict:
    """One harness result of several shared-click runs (methods in the order first seen).

    Raises:
        ValueError: the runs differ in a setting of ``SAME``, are not shared-click runs, or the
            reference's clicks differ (then the methods did not see the same clicks).
    """
    if not results:
        raise ValueError("nothing to merge")
    first = results[0]
    if first["click_mode"] != "shared":
        raise ValueError("only shared-click runs can be merged (own clicks differ per method anyway)")
    merged = {**first, "methods": dict(first["methods"]), "merged_from": [r.get("command") for r in results],
              "wall_seconds": sum(float(r.get("wall_seconds", 0.0)) for r in results)}
    reference = first["reference"]
    for result in results[1:]:
        for key in SAME:
            if result[key] != first[key]:
                raise ValueError(f"runs differ in {key!r}: {first[key]!r} vs {result[key]!r}")
        if _clicks(result["methods"][reference]) != _clicks(first["methods"][reference]):
            raise ValueError(f"the reference {reference!r} made different clicks in the runs")
        for name, method in result["methods"].items():
            merged["methods"].setdefault(name, method)
    return merged


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_json", type=Path, nargs="?", help="an eval.json written by python -m lib.evaluation")
    parser.add_argument("--stage1", help="the stage-1-alone method to check 0-click equality against")
    parser.add_argument("--merge", type=Path, nargs="+", help="eval.json files of shared-click runs to join")
    parser.add_argument("--out", default="results", help="with --merge: the results folder")
    parser.add_argument("--name", help="with --merge: the joined run's name")
    args = parser.parse_args(argv)
    if args.merge:
        if not args.name:
            parser.error("--merge needs --name")
        merged = merge_runs([json.loads(p.read_text()) for p in args.merge])
        merged.pop("name", None)
        args.eval_json = write_report(merged, args.out, args.name)["json"]
    elif args.eval_json is None:
        parser.error("give an eval.json or --merge")
    report = write_paper_table(args.eval_json, args.stage1)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
