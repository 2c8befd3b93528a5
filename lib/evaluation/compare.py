"""Compare two runs of the harness: each shared method's DSC after k clicks, before and after.

    python -m lib.evaluation.compare results/din_gtv_own/eval.json results/in_family_rerun/din_gtv_own/eval.json

Prints a markdown table (one row per method in both runs: DSC@k before / after / difference for
each ``--clicks`` k) and, with ``--tolerance``, exits 1 when any method lost more than that at any
k. Methods in only one run are listed below the table. The runs must hold the same cases under the
same protocol (simulator, click mode, reference, first click, seed, phantoms); else the comparison
means nothing and is refused, naming what differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

#: What two runs must share to be compared (keys of ``eval.json``).
PROTOCOL: tuple[str, ...] = ("simulator", "click_mode", "reference", "first_click", "seed", "phantoms")


def _dsc(run: dict, method: str, k: int) -> float | None:
    """Mean DSC of ``method`` after ``k`` clicks in ``run`` (an ``eval.json``), or None past its clicks."""
    value = run["methods"][method]["dsc_at_clicks"].get(str(k))
    return None if value is None else float(value)


def compare(before: dict, after: dict, clicks: Sequence[int]) -> dict:
    """Per method in both runs and per k in ``clicks``: DSC before, after and after - before.

    Raises:
        ValueError: the runs hold different cases or differ in a :data:`PROTOCOL` key.
    """
    differing = [key for key in PROTOCOL if before.get(key) != after.get(key)]
    if differing:
        raise ValueError("the runs differ in "
                         + ", ".join(f"{k} ({before.get(k)!r} vs {after.get(k)!r})" for k in differing))
    if list(before["cases"]) != list(after["cases"]):
        only = sorted(set(before["cases"]) ^ set(after["cases"]))
        raise ValueError(f"the runs hold different cases (in one only: {only or 'same names, other order'})")
    shared = [m for m in before["methods"] if m in after["methods"]]
    rows = {}
    for method in shared:
        rows[method] = {}
        for k in clicks:
            b, a = _dsc(before, method, k), _dsc(after, method, k)
            rows[method][k] = {"before": b, "after": a, "difference": None if a is None or b is None else a - b}
    return {"rows": rows, "only_before": [m for m in before["methods"] if m not in after["methods"]],
            "only_after": [m for m in after["methods"] if m not in before["methods"]]}


def worst_loss(result: dict) -> float:
    """The largest DSC loss (before - after, >= 0) over every method and k of ``result``."""
    losses = [-c["difference"] for row in result["rows"].values() for c in row.values() if c["difference"] is not None]
    return max([0.0, *losses])


def markdown(result: dict, clicks: Sequence[int]) -> str:
    """The comparison as a markdown table (before / after / difference per k)."""
    def cell(c: dict) -> str:
        if c["difference"] is None:
            return "-"
        return f"{c['before']:.3f} / {c['after']:.3f} / {c['difference']:+.3f}"

    lines = ["| method | " + " | ".join(f"DSC@{k} before / after / diff" for k in clicks) + " |",
             "|---|" + "---|" * len(clicks)]
    lines += [f"| {m} | " + " | ".join(cell(row[k]) for k in clicks) + " |" for m, row in result["rows"].items()]
    if result["only_before"] or result["only_after"]:
        lines += ["", f"Only before: {', '.join(result['only_before']) or '-'}; "
                      f"only after: {', '.join(result['only_after']) or '-'}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path, help="eval.json of the earlier run")
    parser.add_argument("after", type=Path, help="eval.json of the later run")
    parser.add_argument("--clicks", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--tolerance", type=float, default=None, help="exit 1 if any method loses more")
    args = parser.parse_args(argv)
    try:
        result = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()), args.clicks)
    except (OSError, ValueError, KeyError) as error:
        print(f"cannot compare: {error}", file=sys.stderr)
        return 2
    print(markdown(result, args.clicks), end="")
    if args.tolerance is not None and worst_loss(result) > args.tolerance:
        print(f"a method lost {worst_loss(result):.3f} DSC (> {args.tolerance})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
