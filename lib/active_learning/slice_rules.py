"""Slice-ranking rules scored on gain tables: which rule's top slice gains most after propagation.

    python -m lib.active_learning.slice_rules --table results/slice_suggestion_rules/table_val.json --data build/phantoms/val

A gain table (``lib.active_learning.slice_gain_table``) holds, per phantom, the whole-volume
GTV DSC after one propagated edit on every slice the model or the truth sees. A rule maps the
model's belief (UNet x 4 test-time augmentations, mean GTV probability ``p`` (X, Y, Z)) and the
label ``L`` to a score per slice along the axis, never reading the truth; its pick is its top
slice. Per rule: the mean DSC of its picks, and its share of the oracle's gain over random:

- random: the seeded draw of ``evaluate_slices`` (one slice within the true extent) and the
  expectation over the true extent (the mean of the table there: the draw without its noise);
- oracle (``evaluate_slices``' definition): the best of the 4 slices with the most wrong
  voxels, 5 spread over the true extent and the other methods' slices; and the best of the
  whole table (an upper bound).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from lib.active_learning.evaluate_slices import GTV, most_wrong_slices, spread_slices
from lib.active_learning.members_cache import cached_members
from lib.active_learning.scores import (
    AREA_CHANGE_WEIGHT,
    expected_errors,
    slice_scores,
    smoothed_slice_scores,
    suggestion_scores,
)
from lib.active_learning.uncertainty import combine_members
from lib.segmentation.evaluate import load_network
from lib.simulators.slice_editor import worst_slices

Rule = Callable[[np.ndarray, np.ndarray, int], np.ndarray]

#: The rule served before the area change was added: each rule's wins and losses are counted against it.
REFERENCE = "expected_errors (previous)"


def _along(volume: np.ndarray, axis: int) -> np.ndarray:
    """(N,) float64 sums of ``volume`` (X, Y, Z) over each slice along ``axis``."""
    return slice_scores(volume.astype(np.float64), axis)


def _centrality(mass: np.ndarray) -> np.ndarray:
    """(N,) in [0, 1]: 1 at the centre of mass of the per-slice ``mass`` (N,), falling linearly
    to 0 at the soft extent's ends (the centre +- 2 standard deviations)."""
    total = mass.sum()
    if total <= 0:
        return np.ones_like(mass)
    idx = np.arange(len(mass))
    centre = (idx * mass).sum() / total
    half = max(2.0 * np.sqrt(((idx - centre) ** 2 * mass).sum() / total), 1.0)
    return np.clip(1.0 - np.abs(idx - centre) / half, 0.0, 1.0)


def rules() -> dict[str, Rule]:
    """The rules compared, by name: each (p (C, X, Y, Z), L (X, Y, Z), axis) -> (N,) scores."""

    def errors(p, label, axis):
        return slice_scores(expected_errors(p, label, (GTV,)), axis)

    def smooth(sigma):
        return lambda p, label, axis: smoothed_slice_scores(expected_errors(p, label, (GTV,)), axis, sigma)

    def boundary(p, label, axis):  # the most uncertain voxels only: p near 0.5
        q = p[GTV]
        return _along(q * (1 - q) * 4, axis)

    def central(sigma, power):
        def rule(p, label, axis):
            return smoothed_slice_scores(expected_errors(p, label, (GTV,)), axis, sigma) * \
                _centrality(_along(p[GTV], axis)) ** power
        return rule

    def relative(p, label, axis):  # the share of a slice's structure that is wrong
        return errors(p, label, axis) / (_along(np.maximum(p[GTV], label == GTV), axis) + 1.0)

    def mass(p, label, axis):  # the body of the structure: largest expected area
        return _along(p[GTV], axis)

    def boundary_mm(p, label, axis):  # expected wrong area per boundary voxel: how far off the contour is
        mask = np.moveaxis(label == GTV, axis, 2)
        inner = mask.copy()
        inner[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
        perimeter = (mask & ~inner).sum((0, 1)).astype(np.float64)
        return errors(p, label, axis) / (perimeter + 4.0)

    def boundary_smooth(sigma):
        def rule(p, label, axis):
            q = p[GTV]
            return smoothed_slice_scores(q * (1 - q) * 4, axis, sigma)
        return rule

    def with_area_change(weight):  # the served rule at weight AREA_CHANGE_WEIGHT
        return lambda p, label, axis: suggestion_scores(p, label, axis, (GTV,), weight)

    def area_change_only(p, label, axis):  # the label's area change alone, expected errors breaking ties
        return suggestion_scores(p, label, axis, (GTV,), 1e6)

    out: dict[str, Rule] = {"boundary_mm": boundary_mm, "boundary_pq s=1.0": boundary_smooth(1.0),
                            "boundary_pq s=2.0": boundary_smooth(2.0), "expected_errors (previous)": errors,
                            "gtv_area": mass, "boundary_pq": boundary, "relative_error": relative}
    for weight in (0.25, 0.5, 1.0, 2.0, 4.0):
        out[f"errors + area change w={weight}" + (" (served)" if weight == AREA_CHANGE_WEIGHT else "")] = with_area_change(weight)
    out["area change only"] = area_change_only
    for sigma in (0.5, 1.0, 1.5, 2.0, 3.0):
        out[f"smoothed s={sigma}"] = smooth(sigma)
    for sigma in (0.0, 1.0, 2.0):
        for power in (0.5, 1.0, 2.0):
            out[f"central s={sigma} pow={power}"] = central(sigma, power)
    for name in ("expected_errors (previous)", "smoothed s=1.0", "smoothed s=2.0", "central s=1.0 pow=1.0"):
        out[f"{name} [unet+dynunet]"] = out[name]  # the same rule on the 8-member ensemble's p
    return out


def case_inputs(table_case: str, data: Path, cache: Path, networks) -> dict:
    """p (C, X, Y, Z), served label, truth and spacing of one phantom from the members cache."""
    image = data / f"{table_case}.nii.gz"
    members, names, affine, _ = cached_members(cache, image, networks)
    truth_file = nib.load(str(data / "labels" / "final" / image.name))
    return {"p": combine_members(members, names, affine, ["unet/"]).probabilities,
            "p_all": combine_members(members, names, affine).probabilities,
            "served": combine_members(members, names, affine, ["unet/identity"]).label,
            "truth": np.asarray(truth_file.dataobj).astype(np.uint8),
            "spacing": tuple(float(s) for s in truth_file.header.get_zooms()[:3])}


def pick(scores: np.ndarray, allowed: Sequence[int]) -> int:
    """The highest-scoring slice among ``allowed`` (ties to the lower index)."""
    return min(allowed, key=lambda i: (-scores[i], i))


def evaluate(table: dict, data: Path, cache: Path, chosen: dict[str, Rule]) -> dict:
    """Per rule: mean DSC of its picks, shares of the oracle's gain; and per case the picks."""
    networks = {"unet": load_network("models/segmentation/weights.pt"),
                "dynunet": load_network("models/segmentation_dynunet/weights.pt")}
    per_case, rows = {}, []
    for name, case in table["cases"].items():
        x = case_inputs(name, data, cache, networks)
        dsc = {int(k): v for k, v in case["dsc_after_1_edit"].items()}
        allowed = sorted(dsc)
        axis = case["axis"]
        target = x["truth"] == GTV
        extent = [int(i) for i in np.flatnonzero(_along(target, axis))]  # the slices holding GTV, as random draws
        picks = {r: pick(f(x["p_all" if r.endswith("[unet+dynunet]") else "p"], x["served"], axis), allowed)
                 for r, f in chosen.items()}
        others = {picks[r] for r in picks} | {case["random_slices"][0]}
        others |= {e.index for e in worst_slices(x["served"] == GTV, target, 1, axis, x["spacing"])}
        others |= set(most_wrong_slices(x["served"], x["truth"], axis, 1))
        old_oracle = set(most_wrong_slices(x["served"], x["truth"], axis, 4)) | set(spread_slices(extent, 5))
        old_oracle = [s for s in old_oracle | others if s in dsc]
        # references that read the truth (what a rule could reach if it knew the errors)
        wrong = _along((x["served"] == GTV) != target, axis)
        missed = _along((x["served"] != GTV) & target, axis)
        row = {"truth_most_wrong": dsc[pick(wrong, allowed)], "truth_most_missed": dsc[pick(missed, allowed)],
               "base": case["base_dsc"], "random_draw": dsc[case["random_slices"][0]],
               "random_expected": float(np.mean([dsc[s] for s in extent])),
               "oracle": max(dsc[s] for s in old_oracle), "oracle_table": max(dsc.values()),
               "oracle_slice": max(old_oracle, key=lambda s: dsc[s]),
               **{r: dsc[s] for r, s in picks.items()}}
        rows.append(row)
        per_case[name] = {"picks": picks, **{k: row[k] for k in ("random_draw", "random_expected", "oracle",
                                                                    "oracle_slice")}}
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    summary = {}
    for r in chosen:
        summary[r] = {"dsc": mean[r],
                      "share_vs_draw": _share(mean, r),
                      "share_vs_expected": _share(mean, r, random="random_expected"),
                      "share_table_oracle_vs_expected": _share(mean, r, "oracle_table", "random_expected"),
                      # the oracle (c): the slice worst by the truth (most wrong voxels)
                      "share_truth_oracle_vs_draw": _share(mean, r, "truth_most_wrong"),
                      "share_truth_oracle_vs_expected": _share(mean, r, "truth_most_wrong", "random_expected")}
        if REFERENCE in chosen:  # per case: better / worse than the previous rule, and the median difference
            diff = [row[r] - row[REFERENCE] for row in rows]
            summary[r].update(wins=int(sum(d > 1e-9 for d in diff)), losses=int(sum(d < -1e-9 for d in diff)),
                              median_difference=float(np.median(diff)))
    return {"cases": len(rows), "means": mean, "rules": summary, "per_case": per_case}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("build/active_learning/members"))
    parser.add_argument("--rules", nargs="*", default=None, help="rule names (default all)")
    parser.add_argument("--out", type=Path, default=None, help="folder for rules.json, rules.md, rules.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    chosen = rules() if not args.rules else {r: rules()[r] for r in args.rules}
    result = evaluate(json.loads(args.table.read_text()), args.data, args.cache, chosen)
    m = result["means"]
    print(f"{result['cases']} cases: base {m['base']:.4f} random draw {m['random_draw']:.4f} expected "
          f"{m['random_expected']:.4f} oracle {m['oracle']:.4f} table oracle {m['oracle_table']:.4f}")
    for r, s in result["rules"].items():
        print(f"{r:28s} {s['dsc']:.4f}  share vs draw {s['share_vs_draw']:.2f}  vs expected "
              f"{s['share_vs_expected']:.2f}  (table oracle {s['share_table_oracle_vs_expected']:.2f})")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        result["command"] = "python -m lib.active_learning.slice_rules " + " ".join(sys.argv[1:] if argv is None else argv)
        (args.out / "rules.json").write_text(json.dumps(result, indent=1))
        (args.out / "rules.md").write_text(markdown(result))
        plot(result, args.out / "rules.png")


def _share(means: dict, key: str, oracle: str = "oracle", random: str = "random_draw") -> float:
    """The share of the ``oracle``'s gain over ``random`` (keys of ``means``) that ``means[key]`` recovers
    (NaN when the oracle gains nothing over random)."""
    gain = means[oracle] - means[random]
    return (means[key] - means[random]) / gain if gain != 0 else float("nan")


def _kind(result: dict) -> str:
    """``"held-out"`` when every case of ``result`` is a held-out phantom (``test_*``, seeds 900+), else
    ``"validation"``."""
    return "held-out" if all(name.startswith("test_") for name in result["per_case"]) else "validation"


def markdown(result: dict) -> str:
    m = result["means"]
    lines = [f"# Slice-ranking rules on {_kind(result)} phantoms (1 propagated edit, GTV DSC)", "",
             f"{result['cases']} phantoms: base {m['base']:.3f}, random draw {m['random_draw']:.3f}, random "
             f"expected over the true extent {m['random_expected']:.3f}, oracle (evaluate_slices' candidates) "
             f"{m['oracle']:.3f}, best of the whole table {m['oracle_table']:.3f}.", "",
             "References that read the truth: the slice with the most wrong GTV voxels "
             f"{m['truth_most_wrong']:.3f} (share vs random draw {_share(m, 'truth_most_wrong'):.2f}), the slice "
             f"with the most missed GTV voxels {m['truth_most_missed']:.3f} ({_share(m, 'truth_most_missed'):.2f}).",
             "",
             "Shares of the gain over random: against the oracle above (draw / expectation), and against the "
             "truth's most-wrong slice (the issue's oracle (c), draw / expectation).", "",
             "| rule | DSC | share vs random draw | share vs random expectation | share of truth's most-wrong slice's "
             f"gain (draw / expectation) | cases better / worse than {REFERENCE} | median difference |",
             "|---|---|---|---|---|---|---|"]
    for r, s in result["rules"].items():
        versus = f"{s['wins']} / {s['losses']} | {s['median_difference']:+.4f}" if "wins" in s else "- | -"
        lines.append(f"| {r} | {s['dsc']:.3f} | {s['share_vs_draw']:.2f} | {s['share_vs_expected']:.2f} | "
                     f"{s['share_truth_oracle_vs_draw']:.2f} / {s['share_truth_oracle_vs_expected']:.2f} | {versus} |")
    lines += ["", f"Command: `{result.get('command', '')}`", ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lib.evaluation.report import write_png

    names = list(result["rules"])
    figure, ax = plt.subplots(figsize=(7, 0.28 * len(names) + 1.5))
    ax.barh(range(len(names)), [result["rules"][r]["dsc"] for r in names], color="tab:blue")
    m = result["means"]
    for key, colour in (("random_draw", "grey"), ("random_expected", "black"), ("oracle", "tab:red")):
        ax.axvline(m[key], color=colour, linestyle="--", label=key)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlim(min(m["base"], min(result["rules"][r]["dsc"] for r in names)) - 0.01, m["oracle_table"] + 0.01)
    ax.set(xlabel="GTV DSC after 1 propagated edit on the rule's top slice",
           title=f"{result['cases']} {_kind(result)} phantoms")
    ax.legend(fontsize=7)
    write_png(figure, path, dpi=110)


if __name__ == "__main__":
    main()
