"""DIN's paper metrics from harness reports, as one Markdown table per run.

    python -m benchmarks.din_tables results/din_gtv results/din_gtv_own --out results/din_gtv/din_table.md

Reads each run's ``eval.json`` (written by ``python -m lib.evaluation`` or
``benchmarks/din_box.py``) and lists per method what DIN's paper reports: NoC at DSC 0.80
(and the share of cases that never get there), DSC after 1, 5, 10 and 20 clicks, and at
the last click VOE, ARVD, HD95, and the mean numbers of foreground and background clicks
made, plus seconds per answer. Nothing is recomputed: every number is the harness's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path


def _f(value: object, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def run_table(report: dict) -> list[str]:
    """Markdown lines of one run."""
    max_clicks = report["max_clicks"]
    ks = [k for k in ("1", "5", "10", str(max_clicks)) if int(k) <= max_clicks]
    ks = list(dict.fromkeys(ks))
    head = (["method", "NoC@0.80 (fail)"] + [f"DSC@{k}" for k in ks]
            + ["VOE@last", "ARVD@last", "HD95@last (mm)", "fg clicks", "bg clicks", "s/answer"])
    lines = [
        f"### {report.get('name', '?')}: {len(report['cases'])} cases, simulator `{report['simulator']}`, "
        f"{report['click_mode']} clicks" + (f" (reference `{report['reference']}`)" if report.get("reference") else "")
        + f", up to {max_clicks} clicks",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, m in report["methods"].items():
        last = m["at_last_click"]
        cells = [name, f"{_f(m['noc']['0.80'], 1)} ({100 * (m['noc_failed']['0.80'] or 0):.0f}%)"]
        cells += [_f(m["dsc_at_clicks"].get(k)) for k in ks]
        cells += [_f(last["voe"]), _f(last["arvd"]), _f(last["hd95_mm"], 1), _f(m["foreground_clicks"], 1),
                  _f(m["background_clicks"], 1), _f(m["seconds_per_answer"], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def combined_table(reports: Sequence[dict], title: str) -> list[str]:
    """One table over several runs (e.g. one method per run, each with its own clicks); rows ``run: method``."""
    merged = dict(reports[0])
    merged["name"] = title
    merged["cases"] = reports[0]["cases"]
    merged["methods"] = {f"{r.get('name', '?')}: {m}": v for r in reports for m, v in r["methods"].items()}
    if any(r["cases"] != merged["cases"] or r["max_clicks"] != merged["max_clicks"] for r in reports):
        raise ValueError("runs with different cases or click budgets cannot share a table")
    modes = sorted({r["click_mode"] for r in reports})
    merged["click_mode"] = "/".join(modes)
    merged["reference"] = None
    return run_table(merged)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="result folders holding eval.json")
    parser.add_argument("--out", type=Path, help="write the Markdown here too")
    parser.add_argument("--combine", metavar="TITLE", help="one table over all runs (same cases and clicks budget)")
    args = parser.parse_args(argv)
    lines = ["# DIN: the paper's metrics, from the harness reports", ""]
    reports = [json.loads((run / "eval.json").read_text()) for run in args.runs]
    if args.combine:
        lines += combined_table(reports, args.combine)
    else:
        for report in reports:
            lines += run_table(report)
    lines += ["NoC@0.80: mean clicks to reach DSC >= 0.80 (a case that never does counts as the maximum; the "
              "failed share in brackets). VOE = 1 - |P and Q| / |P or Q|, ARVD = abs(|P| - |Q|) / |Q|, at the last "
              "click. fg / bg clicks: mean per case.", ""]
    text = "\n".join(lines)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
