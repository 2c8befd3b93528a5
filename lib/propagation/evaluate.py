"""Evaluate slice-edit propagation against pasting and contour interpolation, on held-out phantoms.

    python -m lib.propagation.evaluate --name slice_propagation --cases 30 --edits 1,2,4

For every held-out phantom (seeds 900+) and k in ``--edits``: the base network predicts;
the simulated user redraws the k worst slices of the structure (largest Hausdorff distance,
axial, each the true slice; the next worst found with the earlier ones pasted in); every
method gets the same edits:

- ``base``: the prediction, unedited;
- ``paste``: the edited slices pasted in;
- ``interpolation``: morphological contour interpolation between the edited slices (3D
  Slicer's "Fill between slices");
- ``direct_l<L>``: propagation by the feature update alone, decoder level L (``--levels``);
- ``fusion_l<L>``: propagation with the trained fusion module (``--fusion``) at its level.

Metrics of the structure, on the image's own grid: DSC, HD95 (mm), sensitivity and
specificity on the whole volume and on the worst-slice sub-volume (the first edited slice and
2 slices each side, the paper's); DSC on the far slices (farther than 2 slices from every
edit), where the fusion module is meant to help. Results: ``<out>/<name>/eval.json``,
``eval.md`` and ``dsc_vs_edits.png``.
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

from lib.atomic import write_atomically  # noqa: E402
from lib.evaluation.report import json_safe  # noqa: E402
from lib.imaging.prepare import prepare_file  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.metrics import dice, hd95_mm, sensitivity, specificity  # noqa: E402
from lib.phantom.config import LABELS  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402
from lib.propagation.baselines import interpolate_edits, paste_edits  # noqa: E402
from lib.propagation.engine import PropagationEngine, check_edits  # noqa: E402
from lib.propagation.propagate import NEAR_RULES  # noqa: E402
from lib.propagation.train_fusion import load_fusion  # noqa: E402
from lib.propagation.update import UpdateSettings  # noqa: E402
from lib.segmentation.evaluate import load_network  # noqa: E402
from lib.segmentation.predict import predict_file  # noqa: E402
from lib.segmentation.train import TEST_SEED  # noqa: E402
from lib.session_cache import SessionCache  # noqa: E402
from lib.simulators.slice_editor import worst_slices  # noqa: E402

AXIS = 2
NEAR = 2


def slab(shape: Sequence[int], axis: int, slices: Sequence[int], near: int) -> np.ndarray:
    """(X, Y, Z) bool: the slices ``slices`` along ``axis`` and ``near`` slices each side."""
    mask = np.zeros(tuple(shape), bool)
    for s in slices:
        where = [slice(None)] * 3
        where[axis] = slice(max(0, s - near), s + near + 1)
        mask[tuple(where)] = True
    return mask


def structure_metrics(pred: np.ndarray, truth: np.ndarray, spacing, region: np.ndarray | None = None) -> dict:
    """DSC, HD95 (mm), sensitivity, specificity of one structure, optionally inside ``region`` only."""
    if region is not None:
        pred, truth = pred & region, truth & region
    return {
        "dsc": dice(pred, truth),
        "hd95_mm": hd95_mm(pred, truth, spacing),
        "sensitivity": sensitivity(pred, truth),
        "specificity": specificity(pred, truth),
    }


def case_metrics(pred: np.ndarray, truth: np.ndarray, spacing, slices: Sequence[int]) -> dict:
    """Whole-volume, worst-slice sub-volume and far-slice metrics of one answer."""
    sub = slab(truth.shape, AXIS, slices[:1], NEAR)
    far = ~slab(truth.shape, AXIS, slices, NEAR)
    return {
        "whole": structure_metrics(pred, truth, spacing),
        "sub": structure_metrics(pred, truth, spacing, sub),
        "far_dsc": dice(pred & far, truth & far),
    }


def user_label(prediction: np.ndarray, truth: np.ndarray, value: int, slices: Sequence[int]) -> np.ndarray:
    """The multi-label prediction with structure ``value`` redrawn as the truth on ``slices``."""
    label = prediction.copy()
    for s in slices:
        plane = label[..., s]
        plane[plane == value] = 0
        plane[truth[..., s] == value] = value
    return label


def evaluate_case(
    engines: dict[str, PropagationEngine], image: Path, truth: np.ndarray, spacing, value: int, ks: Sequence[int]
) -> dict:
    """Every method's metrics for k = each of ``ks`` edits, and seconds per propagation."""
    network = next(iter(engines.values())).split.network
    prediction, _ = predict_file(network, image)
    prepared = prepare_file(image, 3)
    target = truth == value
    row: dict = {"base_dsc": dice(prediction == value, target), "by_k": {}}
    for k in ks:
        edits = worst_slices(prediction == value, target, k, AXIS, spacing)
        slices = [e.index for e in edits]
        if not slices:
            continue
        drawn = user_label(prediction, truth, value, slices)
        answers = {
            "base": prediction == value,
            "paste": paste_edits(prediction == value, drawn == value, AXIS, slices),
            "interpolation": interpolate_edits(prediction == value, drawn == value, AXIS, slices),
        }
        seconds = {}
        for name, engine in engines.items():
            start = time.perf_counter()
            answer = engine.propagate(prepared, check_edits(drawn, slices, AXIS, truth.shape), key=str(image))
            seconds[name] = (time.perf_counter() - start) / len(slices)
            answers[name] = answer.label == value
        row["by_k"][str(k)] = {
            "slices": slices,
            "methods": {name: case_metrics(a, target, spacing, slices) for name, a in answers.items()},
            "seconds_per_edit": seconds,
        }
    return row


def summarise(cases: dict, ks: Sequence[int], low: float = 0.8) -> dict:
    """Means per k and method, over all cases and over the cases whose base DSC is under ``low``."""
    summary: dict = {}
    for k in map(str, ks):
        rows = [c["by_k"][k] for c in cases.values() if k in c["by_k"]]
        low_rows = [c["by_k"][k] for c in cases.values() if k in c["by_k"] and c["base_dsc"] < low]
        methods = rows[0]["methods"].keys() if rows else []
        summary[k] = {
            name: {
                "dsc": _mean(r["methods"][name]["whole"]["dsc"] for r in rows),
                "hd95_mm": _mean(r["methods"][name]["whole"]["hd95_mm"] for r in rows),
                "sensitivity": _mean(r["methods"][name]["whole"]["sensitivity"] for r in rows),
                "specificity": _mean(r["methods"][name]["whole"]["specificity"] for r in rows),
                "sub_dsc": _mean(r["methods"][name]["sub"]["dsc"] for r in rows),
                "sub_hd95_mm": _mean(r["methods"][name]["sub"]["hd95_mm"] for r in rows),
                "sub_sensitivity": _mean(r["methods"][name]["sub"]["sensitivity"] for r in rows),
                "sub_specificity": _mean(r["methods"][name]["sub"]["specificity"] for r in rows),
                "far_dsc": _mean(r["methods"][name]["far_dsc"] for r in rows),
                "dsc_base_under_0.8": _mean(r["methods"][name]["whole"]["dsc"] for r in low_rows),
                "seconds_per_edit": _mean(r["seconds_per_edit"].get(name, np.nan) for r in rows),
            }
            for name in methods
        }
        summary[k]["cases"] = len(rows)
        summary[k]["cases_base_under_0.8"] = len(low_rows)
    return summary


def _mean(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def markdown(result: dict) -> str:
    """A table per k: every method's whole-volume, sub-volume and far-slice numbers."""
    lines = [f"# Slice-edit propagation: {result['name']}", "", result["description"], ""]
    for k, methods in result["summary"].items():
        lines += [
            f"## k = {k} edit(s) ({methods['cases']} cases; {methods['cases_base_under_0.8']} with base DSC < 0.8)",
            "",
            "| method | DSC | DSC (base < 0.8) | HD95 (mm) | sens | spec | sub DSC | sub HD95 (mm) | sub sens "
            "| sub spec | far DSC | s/edit |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, m in methods.items():
            if not isinstance(m, dict):
                continue
            cells = [m["dsc"], m["dsc_base_under_0.8"], m["hd95_mm"], m["sensitivity"], m["specificity"],
                     m["sub_dsc"], m["sub_hd95_mm"], m["sub_sensitivity"], m["sub_specificity"], m["far_dsc"],
                     m["seconds_per_edit"]]
            lines.append(f"| {name} | " + " | ".join("-" if not np.isfinite(c) else f"{c:.3f}" for c in cells) + " |")
        lines.append("")
    lines += [f"Command: `{result['command']}`", f"Machine: {result['machine']}; {result['minutes']:.1f} min.", ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Mean whole-volume DSC against the number of edits, one line per method."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    ks = list(result["summary"].keys())
    methods = [m for m, v in result["summary"][ks[0]].items() if isinstance(v, dict)]
    for name in methods:
        for ax, key in zip(axes, ("dsc", "dsc_base_under_0.8")):
            ax.plot([int(k) for k in ks], [result["summary"][k][name][key] for k in ks], marker="o", label=name)
    for ax, title in zip(axes, ("all cases", "cases with base DSC < 0.8")):
        ax.set(xlabel="edited slices", ylabel="whole-volume DSC", title=title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="slice_propagation")
    parser.add_argument("--out", default="results")
    parser.add_argument("--weights", default="models/segmentation/weights.pt")
    parser.add_argument("--fusion", default="models/propagation_unet/fusion.pt", help="'' for none")
    parser.add_argument("--levels", default="1,2,3", help="decoder levels of the direct update")
    parser.add_argument("--data", default="build/phantoms/heldout")
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--structure", default="gtv", choices=sorted(LABELS))
    parser.add_argument("--edits", default="1,2,4")
    parser.add_argument("--first-seed", type=int, default=TEST_SEED,
                        help="phantom seeds from here (900+ held out; 800+ validation, for tuning)")
    parser.add_argument("--near-rule", default="paper", choices=NEAR_RULES,
                        help="how near slices are answered as edits accumulate (lib.propagation.propagate)")
    parser.add_argument("--keep-unanchored", action="store_true",
                        help="keep answer components that overlap nothing of their class in the user's label")
    parser.add_argument("--iterations", type=int, default=UpdateSettings.iterations, help="feature-update steps")
    parser.add_argument("--lr", type=float, default=UpdateSettings.lr, help="feature-update learning rate")
    args = parser.parse_args(argv)

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    data = Path(args.data)
    prefix = "test" if args.first_seed == TEST_SEED else f"seed{args.first_seed}"
    write_datastore(data, args.cases, args.first_seed, prefix=prefix)
    network = load_network(args.weights)
    cache = SessionCache(4, 2 * 1024**3)
    options = {"settings": UpdateSettings(iterations=args.iterations, lr=args.lr), "near_rule": args.near_rule,
               "keep_connected": not args.keep_unanchored, "cache": cache}
    levels = [level for level in args.levels.split(",") if level.strip()]
    engines = {f"direct_l{level}": PropagationEngine(network, int(level), **options) for level in levels}
    if args.fusion:
        fusion, meta = load_fusion(args.fusion)
        engines[f"fusion_l{meta['level']}"] = PropagationEngine(network, int(meta["level"]), fusion, **options)
    ks = [int(k) for k in args.edits.split(",")]
    start = time.time()
    cases = {}
    for image in tqdm(sorted(data.glob(f"{prefix}_*.nii.gz"))[: args.cases], desc="cases", unit="case"):
        truth_file = nib.load(str(data / "labels" / "final" / image.name))
        truth = np.asarray(truth_file.dataobj).astype(np.uint8)
        spacing = tuple(float(s) for s in truth_file.header.get_zooms()[:3])
        cases[image.name.removesuffix(".nii.gz")] = evaluate_case(engines, image, truth, spacing, LABELS[args.structure], ks)
    result = {
        "name": args.name,
        "description": (
            f"Structure `{args.structure}`; {len(cases)} phantoms (seeds {args.first_seed}+); simulated worst-slice "
            f"edits (axial, the true slice); base network `{args.weights}`; fusion `{args.fusion or 'none'}`. "
            "DSC / HD95 / sens / spec: whole volume; sub: the first edited slice and 2 each side; far DSC: slices "
            "farther than 2 from every edit. s/edit: seconds per edit (features cached after the first)."
        ),
        "command": "python -m lib.propagation.evaluate " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": str(describe_machine()),
        "minutes": (time.time() - start) / 60,
        "summary": summarise(cases, ks),
        "cases": cases,
    }
    folder = Path(args.out) / args.name
    write_atomically(folder / "eval.json", lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))
    write_atomically(folder / "eval.md", lambda tmp: tmp.write_text(markdown(result)))
    plot(result, folder / "dsc_vs_edits.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
