"""Slice suggestion: edits on the suggested slices against random, worst-by-truth and oracle slices.

    python -m lib.active_learning.evaluate_slices --cases 30 --out results/active_learning

For each held-out phantom (seeds 900+): the automatic model's prediction (UNet, no
augmentation), then 1 and 2 GTV slice edits (the true slice drawn, as the propagation
evaluation's simulated user) along the S-I-nearest axis, propagated by slice-edit propagation
(``lib.propagation``, fusion module at level 2, as the app serves it), on:

- ``suggested``: the slice suggestion's top slice (``scores.suggestion_scores`` for the GTV: its
  expected wrong voxels under the UNet's test-time-augmentation ensemble plus the label's
  area change across the slice, as served); the second edit's slice is the suggestion asked
  again with the label after the first propagation uploaded and the first slice excluded
  (what the Slicer module does);
- ``random``: slices drawn uniformly within the true GTV's extent along the axis;
- ``worst_hausdorff``: the worst slices by the truth as the propagation evaluation's simulated
  user picks them (largest Hausdorff distance, ``lib.simulators.slice_editor.worst_slices``);
- ``most_wrong``: the slice with the most wrong GTV voxels by the truth (the second: on the
  label after the first propagation, the first excluded);
- ``oracle``: the slice whose edit gives the best whole-volume DSC *after propagation*,
  chosen with the truth by propagating every candidate: the ``--oracle-worst`` slices with
  the most wrong voxels, ``--oracle-spread`` slices spread evenly over the true extent, and
  the slices the other methods chose; greedy for the second edit (the first kept, each
  candidate propagated with it). The target's oracle: what an edit can gain, at best.

Worst by truth is not best after propagation: the slice with the largest error (by distance
or by voxels) is often at an end of the tumour or holds an error the propagation does not
carry to its neighbours, while an edit in the body of the tumour informs the propagation
over many slices (``slices.json`` keeps each oracle candidate's DSC to show it).

Whole-volume GTV DSC after propagation. Written: ``slices.json``, ``slices.md``, ``slices.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lib.active_learning.members_cache import cached_members  # noqa: E402
from lib.active_learning.scores import rank_slices, suggestion_scores, superior_inferior_axis  # noqa: E402
from lib.active_learning.uncertainty import combine_members  # noqa: E402
from lib.atomic import write_atomically  # noqa: E402
from lib.evaluation.report import json_safe, write_png  # noqa: E402
from lib.imaging.prepare import prepare_file  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.metrics import dice  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402
from lib.propagation.engine import PropagationEngine, check_edits  # noqa: E402
from lib.propagation.evaluate import user_label  # noqa: E402
from lib.propagation.train_fusion import load_fusion  # noqa: E402
from lib.segmentation.evaluate import load_network  # noqa: E402
from lib.segmentation.train import TEST_SEED  # noqa: E402
from lib.session_cache import SessionCache  # noqa: E402
from lib.simulators.slice_editor import worst_slices  # noqa: E402

GTV = 1
METHODS = ("suggested", "random", "worst_hausdorff", "most_wrong", "oracle")
TITLES = {"suggested": "suggested", "random": "random (within extent)",
          "worst_hausdorff": "worst by truth (Hausdorff)", "most_wrong": "most wrong voxels (truth)",
          "oracle": "oracle (best after propagation)"}


def redrawn(prediction: np.ndarray, truth: np.ndarray, axis: int, slices: Sequence[int]) -> np.ndarray:
    """The prediction with the GTV redrawn as the truth on ``slices`` along ``axis``."""
    moved = user_label(np.moveaxis(prediction, axis, 2).copy(), np.moveaxis(truth, axis, 2), GTV, slices)
    return np.moveaxis(moved, 2, axis)


def suggest(probabilities: np.ndarray, label: np.ndarray, axis: int, exclude: Sequence[int]) -> int | None:
    """The top GTV slice of the suggestion for ``label``, or None."""
    ranked = rank_slices(suggestion_scores(probabilities, label, axis, (GTV,)), exclude, top=1)
    return ranked[0]["index"] if ranked else None


def most_wrong_slices(label: np.ndarray, truth: np.ndarray, axis: int, k: int,
                      exclude: Sequence[int] = ()) -> list[int]:
    """The ``k`` slices along ``axis`` with the most wrong GTV voxels of ``label`` (X, Y, Z) by
    ``truth``, most first (ties to the lower index); slices without an error or in ``exclude`` never."""
    wrong = np.moveaxis((label == GTV) != (truth == GTV), axis, 0).reshape(label.shape[axis], -1).sum(1)
    skip = set(exclude)
    order = sorted((i for i in range(len(wrong)) if wrong[i] > 0 and i not in skip), key=lambda i: (-wrong[i], i))
    return [int(i) for i in order[:k]]


def spread_slices(extent: Sequence[int], n: int) -> list[int]:
    """``n`` slices spread evenly over ``extent`` (sorted slice indices), its ends excluded when n > 1."""
    if n < 1 or len(extent) == 0:
        return []
    positions = (np.arange(n) + 0.5) / n * (len(extent) - 1)
    return sorted({int(extent[int(round(p))]) for p in positions})


def best_candidate(candidates: Sequence[int], dsc_of) -> tuple[int | None, dict[int, float]]:
    """The candidate with the highest ``dsc_of(candidate)`` (ties to the lower index) and every candidate's DSC."""
    scores = {int(c): float(dsc_of(int(c))) for c in sorted(set(candidates))}
    if not scores:
        return None, scores
    return min(scores, key=lambda c: (-scores[c], c)), scores


def evaluate_case(engine: PropagationEngine, image: Path, members, names, affine, truth, spacing,
                  rng: np.random.Generator, oracle_worst: int = 4, oracle_spread: int = 5,
                  methods: Sequence[str] = METHODS) -> dict:
    """GTV DSC of the base and of each of ``methods`` (some of ``METHODS``, in that order) after 1 and 2
    edits; the slices chosen; the oracle's candidates."""
    served = combine_members(members, names, affine, ["unet/identity"]).label
    probabilities = combine_members(members, names, affine, ["unet/"]).probabilities
    axis = superior_inferior_axis(affine)
    prepared = prepare_file(image, 3)
    target = truth == GTV
    row: dict = {"base_dsc": dice(served == GTV, target), "axis": axis, "methods": {}}
    extent = np.flatnonzero(np.moveaxis(target, axis, 0).reshape(target.shape[axis], -1).any(1))
    row["extent"] = [int(extent[0]), int(extent[-1])] if len(extent) else None
    random_slices = [int(s) for s in rng.choice(extent, size=min(2, len(extent)), replace=False)]
    worst_hd = [e.index for e in worst_slices(served == GTV, target, 2, axis, spacing)]
    labels: dict[tuple[int, ...], np.ndarray] = {}

    def propagated(slices: Sequence[int], method: str) -> np.ndarray:
        key = tuple(slices)
        if key not in labels:
            drawn = redrawn(served, truth, axis, slices)
            labels[key] = engine.propagate(prepared, check_edits(drawn, list(slices), axis, truth.shape),
                                           key=f"{image}/{method}").label
        return labels[key]

    for method in [m for m in METHODS if m in methods]:
        slices: list[int] = []
        answers = []
        label = served
        for k in (1, 2):
            if method == "suggested":
                s = suggest(probabilities, label, axis, slices)
            elif method == "random":
                s = random_slices[k - 1] if k <= len(random_slices) else None
            elif method == "worst_hausdorff":
                s = worst_hd[k - 1] if k <= len(worst_hd) else None
            elif method == "most_wrong":
                found = most_wrong_slices(label, truth, axis, 1, slices)
                s = found[0] if found else None
            else:
                others = [row["methods"][m]["slices"][k - 1] for m in METHODS[:-1]
                          if m in row["methods"] and len(row["methods"][m]["slices"]) >= k]
                candidates = [c for c in most_wrong_slices(label, truth, axis, oracle_worst, slices)
                              + spread_slices(extent, oracle_spread) + others if c not in slices]
                s, tried = best_candidate(candidates, lambda c: dice(propagated(slices + [c], "oracle") == GTV, target))
                row.setdefault("oracle_candidates", []).append(tried)
            if s is None:
                answers.append(answers[-1] if answers else row["base_dsc"])
                continue
            slices.append(int(s))
            label = propagated(slices, method)
            answers.append(dice(label == GTV, target))
        row["methods"][method] = {"slices": slices, "dsc": answers}
    return row


def relative_position(slice_index: int, extent: Sequence[int] | None) -> float | None:
    """Where ``slice_index`` lies in the true extent [first, last]: 1 in the middle, 0 at an end,
    negative outside it (a slice of false positives only)."""
    if extent is None or extent[1] == extent[0]:
        return None
    t = (slice_index - extent[0]) / (extent[1] - extent[0])
    return float(1 - 2 * abs(t - 0.5))


def present(summary_or_rows) -> list[str]:
    """The methods of ``METHODS`` evaluated: in a summary (its ``<method>_dsc_1`` keys) or a case row."""
    if "methods" in summary_or_rows:
        return [m for m in METHODS if m in summary_or_rows["methods"]]
    return [m for m in METHODS if f"{m}_dsc_1" in summary_or_rows]


def summarise(cases: dict) -> dict:
    rows = list(cases.values())
    out: dict = {"cases": len(rows), "base_dsc": float(np.mean([r["base_dsc"] for r in rows]))}
    methods = present(rows[0])
    for method in methods:
        for k in (1, 2):
            out[f"{method}_dsc_{k}"] = float(np.mean([r["methods"][method]["dsc"][k - 1] for r in rows]))
    for method in methods:  # how central the first edit is: 0 at an end of the tumour, 1 in its middle
        positions = [relative_position(r["methods"][method]["slices"][0], r.get("extent")) for r in rows
                     if r["methods"][method]["slices"]]
        positions = [p for p in positions if p is not None]
        out[f"{method}_centrality_1"] = float(np.mean(positions)) if positions else None
    for k in (1, 2):
        if not {"oracle", "random", "suggested"} <= set(methods):
            break
        gain_oracle = out[f"oracle_dsc_{k}"] - out[f"random_dsc_{k}"]
        gain = out[f"suggested_dsc_{k}"] - out[f"random_dsc_{k}"]
        out[f"recovered_fraction_of_oracle_gain_{k}"] = gain / gain_oracle if gain_oracle > 0 else None
    return out


def plot(summary: dict, path: Path) -> None:
    figure, ax = plt.subplots(figsize=(5.5, 4))
    for method in present(summary):
        ax.plot([0, 1, 2], [summary["base_dsc"], summary[f"{method}_dsc_1"], summary[f"{method}_dsc_2"]],
                marker="o", label=method)
    ax.set(xlabel="slice edits (propagated)", ylabel="GTV DSC, whole volume", xticks=[0, 1, 2],
           title=f"{summary['cases']} held-out phantoms")
    ax.grid(alpha=0.3)
    ax.legend()
    write_png(figure, path, dpi=110)


def markdown(result: dict) -> str:
    s = result["summary"]
    methods = present(s)
    lines = ["# Slice suggestion: which slices to edit", "", result["description"], "",
             "| edits | base | " + " | ".join(TITLES[m] for m in methods) + " | suggested's share of oracle's gain "
             "over random |", "|---|---|" + "---|" * len(methods) + "---|"]
    for k in (1, 2):
        share = s.get(f"recovered_fraction_of_oracle_gain_{k}")
        lines.append(f"| {k} | {s['base_dsc']:.3f} | " + " | ".join(f"{s[f'{m}_dsc_{k}']:.3f}" for m in methods)
                     + f" | {'-' if share is None else f'{share:.2f}'} |")
    central = ", ".join(f"{TITLES[m]} {s[f'{m}_centrality_1']:.2f}" for m in methods
                        if s.get(f"{m}_centrality_1") is not None)
    lines += ["", f"First edit's mean place in the tumour (1 in the middle of its extent, 0 at an end, "
              f"negative outside it): {central}."]
    lines += ["", f"Command: `{result['command']}`", f"Machine: {result['machine']}; load (1 min) mean "
              f"{result['load_mean']:.2f}; {result['minutes']:.1f} min.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--data", type=Path, default=Path("build/phantoms/heldout"))
    parser.add_argument("--cache", type=Path, default=Path("build/active_learning/members"))
    parser.add_argument("--fusion", default="models/propagation_unet/fusion.pt")
    parser.add_argument("--out", type=Path, default=Path("results/active_learning"))
    parser.add_argument("--seed", type=int, default=0, help="seeds the random slices")
    parser.add_argument("--oracle-worst", type=int, default=4,
                        help="oracle candidates: slices with the most wrong voxels")
    parser.add_argument("--oracle-spread", type=int, default=5, help="oracle candidates: slices spread over the extent")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="methods to evaluate (the oracle is the costly one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    start = time.time()
    images = write_datastore(args.data, args.cases, TEST_SEED, prefix="test")
    unet = load_network("models/segmentation/weights.pt")
    networks = {"unet": unet, "dynunet": load_network("models/segmentation_dynunet/weights.pt")}
    fusion, meta = load_fusion(args.fusion)
    engine = PropagationEngine(unet, int(meta["level"]), fusion, cache=SessionCache(4, 2 * 1024**3))
    rng = np.random.default_rng(args.seed)
    cases, loads = {}, []
    command = "python -m lib.active_learning.evaluate_slices " + shlex.join(sys.argv[1:] if argv is None else argv)
    for image in tqdm(images, desc="cases", unit="case"):
        members, names, affine, _ = cached_members(args.cache, image, networks)
        truth_file = nib.load(str(args.data / "labels" / "final" / image.name))
        truth = np.asarray(truth_file.dataobj).astype(np.uint8)
        spacing = tuple(float(s) for s in truth_file.header.get_zooms()[:3])
        cases[image.name.removesuffix(".nii.gz")] = evaluate_case(engine, image, members, names, affine, truth,
                                                                  spacing, rng, args.oracle_worst, args.oracle_spread,
                                                                  args.methods)
        loads.append(os.getloadavg()[0])
        result = {
            "description": (
                f"{len(cases)} held-out phantoms (seeds {TEST_SEED}+); GTV; automatic model `models/segmentation`; "
                f"propagation with fusion `{args.fusion}` (level {meta['level']}); suggestion (as served): the GTV's "
                "expected wrong voxels under the UNet x 4 test-time augmentations plus the label's area change across "
                "the slice; random slices seeded by --seed; oracle: best DSC "
                f"after propagation among the {args.oracle_worst} most-wrong, {args.oracle_spread} spread and the "
                "other methods' slices (greedy for the second edit)."
            ),
            "command": command, "machine": str(describe_machine()), "load_mean": float(np.mean(loads)),
            "minutes": (time.time() - start) / 60, "summary": summarise(cases), "cases": cases,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        write_atomically(args.out / "slices.json", lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))
        write_atomically(args.out / "slices.md", lambda tmp: tmp.write_text(markdown(result)))
    plot(result["summary"], args.out / "slices.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
