"""Summaries of a method's per-click rows: DSC curves, NoC, worse clicks, last-click metrics.

Definitions (DIN, 2S-ICR and Gaussian-click papers):

- ``dsc_at_clicks[k]``: mean DSC over cases after k clicks (k = 0 is the automatic answer).
- ``noc[t]``: mean over cases of the fewest clicks k >= 0 after which DSC >= t; a case that
  never reaches t within ``max_clicks`` counts as ``max_clicks``, and ``noc_failed[t]`` is the
  fraction of such cases.
- ``worse_click_fraction``: over every click actually made (k >= 1, click not None), the
  fraction after which DSC dropped below its value before that click.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

#: NoC targets, as the summary's string keys.
NOC_TARGETS: tuple[str, ...] = ("0.80", "0.85", "0.90")
#: Metrics whose last-click means are reported.
LAST_CLICK_METRICS: tuple[str, ...] = (
    "dsc", "voe", "arvd", "sensitivity", "specificity", "hd95_mm", "assd_mm", "surface_dice",
)


def _by_case(rows: Sequence[dict]) -> dict[str, list[dict]]:
    """Rows grouped by case, each group sorted by k."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["case_id"]].append(row)
    return {case: sorted(group, key=lambda r: r["k"]) for case, group in groups.items()}


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values, or None when there is none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def clicks_to_reach(dsc: Sequence[float], target: float, max_clicks: int) -> tuple[int, bool]:
    """(fewest clicks k with ``dsc[k] >= target``, reached?); (max_clicks, False) when never."""
    for k, value in enumerate(dsc[: max_clicks + 1]):
        if value >= target:
            return k, True
    return max_clicks, False


def summarise(rows: Sequence[dict], max_clicks: int) -> dict:
    """The summary of one method's rows (several cases, k = 0 .. max_clicks each).

    Returns:
        ``dsc_at_clicks``, ``dsc_std_at_clicks`` ({"0": .., ..., str(max_clicks): ..}),
        ``noc`` and ``noc_failed`` ({"0.80", "0.85", "0.90"}), ``worse_click_fraction``,
        ``clicks_made``, ``voxels_changed_at_clicks`` ({"1": .., ...}, mean over cases),
        ``foreground_clicks`` and ``background_clicks`` (mean per case at the last click),
        ``at_last_click`` (mean of each of :data:`LAST_CLICK_METRICS`), ``seconds_per_answer``
        (mean segmenter time over real answers) and ``cases``. Means skip None and nan.
    """
    cases = _by_case(rows)
    ks = range(max_clicks + 1)
    curves = {case: {r["k"]: r for r in group} for case, group in cases.items()}
    dsc_at = {str(k): _mean([c[k]["dsc"] for c in curves.values() if k in c]) for k in ks}
    dsc_std = {
        str(k): float(np.std([c[k]["dsc"] for c in curves.values() if k in c])) if curves else None for k in ks
    }
    noc, failed = {}, {}
    for target in NOC_TARGETS:
        reached = [clicks_to_reach([r["dsc"] for r in group], float(target), max_clicks) for group in cases.values()]
        noc[target] = _mean([n for n, _ in reached])
        failed[target] = _mean([0.0 if ok else 1.0 for _, ok in reached])
    made = [(group[i - 1]["dsc"], group[i]["dsc"]) for group in cases.values() for i in range(1, len(group))
            if group[i]["click"] is not None]
    worse = sum(after < before - 1e-12 for before, after in made)
    last = [group[-1] for group in cases.values()]
    return {
        "cases": len(cases),
        "dsc_at_clicks": dsc_at,
        "dsc_std_at_clicks": dsc_std,
        "noc": noc,
        "noc_failed": failed,
        "worse_click_fraction": worse / len(made) if made else None,
        "clicks_made": len(made),
        "voxels_changed_at_clicks": {
            str(k): _mean([c[k]["voxels_changed"] for c in curves.values() if k in c]) for k in ks if k > 0
        },
        "foreground_clicks": _mean([r["foreground_clicks"] for r in last]),
        "background_clicks": _mean([r["background_clicks"] for r in last]),
        "at_last_click": {m: _mean([r[m] for r in last]) for m in LAST_CLICK_METRICS},
        "seconds_per_answer": _mean([r["seconds"] for g in cases.values() for r in g if r["k"] == 0 or r["click"]]),
    }
