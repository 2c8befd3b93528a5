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
from lib.evaluation.report import json_safe, write_png  # noqa: E402
from lib.imaging.prepare import PreparedImage, prepare_file  # noqa: E402
from lib.labels import LABELS  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.metrics import dice, hd95_mm, sensitivity, specificity  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402
from lib.propagation.bases import BASE_KINDS, TRUTH_KINDS, click_model_base, truth_base  # noqa: E402
from lib.propagation.baselines import interpolate_edits, paste_edits  # noqa: E402
from lib.propagation.correct import PATHS, CorrectionSettings  # noqa: E402
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


def with_structure(label: np.ndarray, mask: np.ndarray, value: int) -> np.ndarray:
    """``label`` (X, Y, Z) uint8 with structure ``value`` replaced by ``mask`` (over background only)."""
    out = label.copy()
    out[out == value] = 0
    out[mask & (out == 0)] = value
    return out


def evaluate_case(
    engines: dict[str, PropagationEngine],
    image: Path,
    truth: np.ndarray,
    spacing,
    value: int,
    ks: Sequence[int],
    base: np.ndarray | None = None,
    prepared: PreparedImage | None = None,
    name_classes: bool = True,
) -> dict:
    """Every method's metrics for k = each of ``ks`` edits, and seconds per propagation.

    ``base``: the user's label (X, Y, Z) uint8 the edits are drawn into; None: the network's prediction.
    ``name_classes``: the request names the redrawn class (``value``), as the Slicer module does;
    False: the engine estimates it from the label.
    Per k also the path each engine took (``paths``), the label-network agreement it chose by
    (``agreement``, NaN for the paper's method) and the path's reason (``reasons``: which network
    changes the edits did not support, :func:`lib.propagation.correct.supported_changes`).
    """
    if base is None:
        base, _ = predict_file(next(iter(engines.values())).split.network, image)
    prepared = prepared if prepared is not None else prepare_file(image, 3)
    target = truth == value
    classes = (value,) if name_classes else None
    row: dict = {"base_dsc": dice(base == value, target), "by_k": {}}
    for k in ks:
        edits = worst_slices(base == value, target, k, AXIS, spacing)
        slices = [e.index for e in edits]
        if not slices:
            continue
        drawn = user_label(base, truth, value, slices)
        answers = {
            "base": base == value,
            "paste": paste_edits(base == value, drawn == value, AXIS, slices),
            "interpolation": interpolate_edits(base == value, drawn == value, AXIS, slices),
        }
        seconds, paths, agreements, reasons, updates = {}, {}, {}, {}, {}
        for name, engine in engines.items():
            start = time.perf_counter()
            answer = engine.propagate(prepared, check_edits(drawn, slices, AXIS, truth.shape, classes), key=str(image))
            seconds[name] = (time.perf_counter() - start) / len(slices)
            answers[name] = answer.label == value
            paths[name] = answer.choice.path
            agreements[name] = answer.choice.agreement
            reasons[name] = answer.choice.reason
            updates[name] = [vars(r) for r in answer.reports]
        row["by_k"][str(k)] = {
            "slices": slices,
            "methods": {name: case_metrics(a, target, spacing, slices) for name, a in answers.items()},
            "seconds_per_edit": seconds,
            "paths": paths,
            "agreement": agreements,
            "reasons": reasons,
            "updates": updates,
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
                "below_base": _mean(
                    float(r["methods"][name]["whole"]["dsc"] < r["methods"]["base"]["whole"]["dsc"] - 1e-6)
                    for r in rows
                ),
                "paths": {p: sum(r.get("paths", {}).get(name) == p for r in rows) for p in PATHS
                          if any(r.get("paths", {}).get(name) == p for r in rows)},
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
            "| sub spec | far DSC | s/edit | below base | paths |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, m in methods.items():
            if not isinstance(m, dict):
                continue
            cells = [m["dsc"], m["dsc_base_under_0.8"], m["hd95_mm"], m["sensitivity"], m["specificity"],
                     m["sub_dsc"], m["sub_hd95_mm"], m["sub_sensitivity"], m["sub_specificity"], m["far_dsc"],
                     m["seconds_per_edit"], m.get("below_base", np.nan)]
            paths = ", ".join(f"{p} {n}" for p, n in m.get("paths", {}).items()) or "-"
            lines.append(f"| {name} | " + " | ".join("-" if not np.isfinite(c) else f"{c:.3f}" for c in cells)
                         + f" | {paths} |")
        lines.append("")
    if "command" in result:
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
    write_png(figure, path, dpi=120)


#: Base kinds (lib.propagation.bases) and the unseen family: the network's prediction on MRI STIR phantoms.
ALL_KINDS: tuple[str, ...] = (*BASE_KINDS, "stir_own")
#: The phantom family each kind's cases come from.
KIND_FAMILY: dict[str, str] = {**{kind: "ct" for kind in BASE_KINDS}, "stir_own": "mri_stir"}


def base_of(kind: str, image: Path, truth: np.ndarray, spacing, value: int, network, click_segmenter,
            rng: np.random.Generator) -> np.ndarray:
    """The user's label (X, Y, Z) uint8 of a base ``kind``: the structure from the kind, the rest
    as the network predicts it (``own`` kinds) or as the truth has it (the others)."""
    if kind in ("own", "stir_own"):
        return predict_file(network, image)[0]
    target = truth == value
    if kind in TRUTH_KINDS:
        return with_structure(truth, truth_base(kind, target, spacing), value)
    if kind == "click3":
        from lib.evaluation.protocol import Case

        loaded = nib.load(str(image))
        case = Case(image.name, np.asarray(loaded.dataobj, np.float32)[None], target, tuple(spacing),
                    np.asarray(loaded.affine, float))
        return with_structure(truth, click_model_base(click_segmenter, case, rng), value)
    raise ValueError(f"unknown base kind {kind!r}; one of {ALL_KINDS}")


def headline(result: dict, engine: str) -> str:
    """One table over the base kinds: whole DSC of base, paste, interpolation and ``engine`` per k,
    the fraction of cases below the base, and the paths taken."""
    lines = ["| base kind | cases | k | base | paste | interpolation | " + engine + " | - paste | below base | paths |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, part in result["bases"].items():
        for k, methods in part["summary"].items():
            m = methods.get(engine)
            if not isinstance(m, dict):
                continue
            paths = ", ".join(f"{p} {n}" for p, n in m["paths"].items()) or "-"
            lines.append(
                f"| {kind} | {methods['cases']} | {k} | {methods['base']['dsc']:.3f} | {methods['paste']['dsc']:.3f} | "
                f"{methods['interpolation']['dsc']:.3f} | {m['dsc']:.3f} | {m['dsc'] - methods['paste']['dsc']:+.3f} | "
                f"{m['below_base']:.2f} | {paths} |"
            )
    return "\n".join(lines)


def markdown_bases(result: dict) -> str:
    """The headline table per engine, then each base kind's full tables."""
    lines = [f"# Slice-edit propagation from different base labels: {result['name']}", "", result["description"], ""]
    for engine in result["engines"]:
        lines += [f"## {engine}: whole-volume DSC", "", headline(result, engine), ""]
    for kind, part in result["bases"].items():
        body = markdown({"name": kind, "description": part["description"], "summary": part["summary"]})
        lines += [body.replace("# Slice-edit propagation: ", "## Base: ").replace("\n## k", "\n### k"), ""]
    lines += [f"Command: `{result['command']}`", f"Machine: {result['machine']}; {result['minutes']:.1f} min.", ""]
    return "\n".join(lines)


def plot_bases(result: dict, path: Path) -> None:
    """Mean whole-volume DSC against the number of edits, one panel per base kind, one line per method."""
    kinds = list(result["bases"])
    figure, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        summary = result["bases"][kind]["summary"]
        ks = list(summary)
        for name in [m for m, v in summary[ks[0]].items() if isinstance(v, dict)]:
            ax.plot([int(k) for k in ks], [summary[k][name]["dsc"] for k in ks], marker="o", label=name)
        ax.set(xlabel="edited slices", ylabel="whole-volume DSC", title=kind)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    write_png(figure, path, dpi=110)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="slice_propagation")
    parser.add_argument("--out", default="results")
    parser.add_argument("--weights", default="models/segmentation/weights.pt")
    parser.add_argument("--fusion", default="models/propagation_unet/fusion.pt", help="'' for none")
    parser.add_argument("--levels", default="1,2,3", help="decoder levels of the direct update ('' for none)")
    parser.add_argument("--data", default="build/phantoms/heldout")
    parser.add_argument("--data-stir", default="build/phantoms/heldout_stir", help="MRI STIR phantoms (stir_own)")
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--structure", default="gtv", choices=sorted(LABELS))
    parser.add_argument("--edits", default="1,2,4")
    parser.add_argument("--bases", default="",
                        help=f"comma list of base kinds ({', '.join(ALL_KINDS)}); '' : the network's own only, "
                             "in the single-base report format")
    parser.add_argument("--paper", action="store_true",
                        help="engines without the correction (always the network path: the paper's method)")
    parser.add_argument("--compare-paper", action="store_true",
                        help="also run every engine without the correction (paper_<engine>) in the same run")
    parser.add_argument("--first-seed", type=int, default=TEST_SEED,
                        help="phantom seeds from here (900+ held out; 800+ validation, for tuning)")
    parser.add_argument("--near-rule", default="paper", choices=NEAR_RULES,
                        help="how near slices are answered as edits accumulate (lib.propagation.propagate)")
    parser.add_argument("--keep-unanchored", action="store_true",
                        help="keep answer components that overlap nothing of their class in the user's label")
    parser.add_argument("--estimate-classes", action="store_true",
                        help="requests do not name the redrawn class: the engine estimates it from the label")
    parser.add_argument("--iterations", type=int, default=UpdateSettings.iterations, help="feature-update steps")
    parser.add_argument("--lr", type=float, default=UpdateSettings.lr, help="feature-update learning rate")
    parser.add_argument("--agree-at", type=float, default=CorrectionSettings.agree_at)
    parser.add_argument("--fit-error", type=float, default=CorrectionSettings.fit_error)
    parser.add_argument("--confidence", type=float, default=CorrectionSettings.confidence)
    parser.add_argument("--reach", type=int, default=CorrectionSettings.reach)
    parser.add_argument("--unknown-error", type=float, default=CorrectionSettings.unknown_error,
                        help="network path: edited-voxel error before the update above which the network does not "
                        "know the structure (fallback); 1: never")
    parser.add_argument("--support", type=float, default=CorrectionSettings.support,
                        help="share of the network's changes the edits must support, per class (else none taken)")
    args = parser.parse_args(argv)

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    kinds = [k.strip() for k in args.bases.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(ALL_KINDS))
    if unknown:
        parser.error(f"unknown base kinds {unknown}; choose from {list(ALL_KINDS)}")
    prefix = "test" if args.first_seed == TEST_SEED else f"seed{args.first_seed}"
    folders = {"ct": Path(args.data), "mri_stir": Path(args.data_stir)}
    for family in sorted({KIND_FAMILY[k] for k in kinds} | ({"ct"} if not kinds else set())):
        write_datastore(folders[family], args.cases, args.first_seed, modality=family, prefix=prefix)
    network = load_network(args.weights)
    # every base kind and edit count of a phantom shares one cache: the served probabilities and each
    # window's features are computed once per phantom (4 entries evicted them between kinds and counts)
    cache = SessionCache(32, 4 * 1024**3)
    correction = None if args.paper else CorrectionSettings(args.agree_at, args.fit_error, args.confidence, args.reach,
                                                            args.support, args.unknown_error)
    options = {"settings": UpdateSettings(iterations=args.iterations, lr=args.lr), "near_rule": args.near_rule,
               "keep_connected": not args.keep_unanchored, "cache": cache, "correction": correction}
    levels = [level for level in args.levels.split(",") if level.strip()]
    engines = {f"direct_l{level}": PropagationEngine(network, int(level), **options) for level in levels}
    if args.fusion:
        fusion, meta = load_fusion(args.fusion)
        engines[f"fusion_l{meta['level']}"] = PropagationEngine(network, int(meta["level"]), fusion, **options)
    if args.compare_paper and correction is not None:  # same network state (cached): costs the conversion only
        engines.update({f"paper_{name}": PropagationEngine(network, e.split.level, e.fusion, **{**options, "correction": None})
                        for name, e in list(engines.items())})
    ks = [int(k) for k in args.edits.split(",")]
    value = LABELS[args.structure]
    start = time.time()
    command = "python -m lib.propagation.evaluate " + shlex.join(sys.argv[1:] if argv is None else argv)
    common = (
        f"Structure `{args.structure}`; simulated worst-slice edits of the base (axial, the true slice); base "
        f"network `{args.weights}`; fusion `{args.fusion or 'none'}`; correction "
        f"{'off (the paper method)' if correction is None else vars(correction)}; redrawn class "
        f"{'estimated by the engine' if args.estimate_classes else 'named in the request (as the Slicer module does)'}. "
        "DSC / HD95 / sens / spec: whole volume; sub: the first edited slice and 2 each side; far DSC: slices "
        "farther than 2 from every edit. s/edit: seconds per edit (features cached after the first); below base: "
        "fraction of cases whose whole DSC fell under the base's."
    )
    if not kinds:
        cases = {}
        for image in tqdm(sorted(folders["ct"].glob(f"{prefix}_*.nii.gz"))[: args.cases], desc="cases", unit="case"):
            truth, spacing = _truth(folders["ct"], image)
            cases[image.name.removesuffix(".nii.gz")] = evaluate_case(engines, image, truth, spacing, value, ks,
                                                                        name_classes=not args.estimate_classes)
        result = {
            "name": args.name,
            "description": f"{len(cases)} phantoms (seeds {args.first_seed}+). " + common,
            "command": command, "machine": str(describe_machine()), "minutes": (time.time() - start) / 60,
            "summary": summarise(cases, ks), "cases": cases,
        }
        folder = Path(args.out) / args.name
        write_atomically(folder / "eval.json", lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))
        write_atomically(folder / "eval.md", lambda tmp: tmp.write_text(markdown(result)))
        plot(result, folder / "dsc_vs_edits.png")
        print(markdown(result))
        return
    click_segmenter = None
    if "click3" in kinds:
        from lib.gaussian_click.segmenter import gaussian_click_3d

        click_segmenter = gaussian_click_3d()
    by_kind: dict[str, dict] = {kind: {} for kind in kinds}
    images = {f: sorted(folders[f].glob(f"{prefix}_*.nii.gz"))[: args.cases] for f in {KIND_FAMILY[k] for k in kinds}}
    load = [os.getloadavg()]
    for n in tqdm(range(args.cases), desc="cases", unit="case"):
        for family, paths in images.items():
            if n >= len(paths):
                continue
            image = paths[n]
            truth, spacing = _truth(folders[family], image)
            prepared = prepare_file(image, 3)
            for kind in [k for k in kinds if KIND_FAMILY[k] == family]:
                base = base_of(kind, image, truth, spacing, value, network, click_segmenter,
                               np.random.default_rng([args.first_seed, n]))
                by_kind[kind][image.name.removesuffix(".nii.gz")] = evaluate_case(
                    engines, image, truth, spacing, value, ks, base, prepared, not args.estimate_classes)
        load.append(os.getloadavg())
        _write_bases(args, kinds, by_kind, ks, engines, common, command, start, load, figure=False)
    print(markdown_bases(_write_bases(args, kinds, by_kind, ks, engines, common, command, start, load)))


def _truth(folder: Path, image: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    truth_file = nib.load(str(folder / "labels" / "final" / image.name))
    return (np.asarray(truth_file.dataobj).astype(np.uint8),
            tuple(float(s) for s in truth_file.header.get_zooms()[:3]))


def _write_bases(args, kinds, by_kind, ks, engines, common, command, start, load, figure: bool = True) -> dict:
    """Write (and return) the base-kind results so far: eval.json, eval.md and, with ``figure``,
    dsc_vs_edits.png (drawn once at the end: a figure per phantom cost as much as a propagation)."""
    descriptions = {
        "own": "the network's prediction (the paper's setting), CT phantoms",
        "eroded": "the truth eroded by one voxel in every axial slice",
        "dilated": "the truth dilated by one voxel in every axial slice",
        "shifted": "the truth shifted by (6, 3, 0) mm",
        "click3": "the 3D Gaussian-click model's answer after 3 simulated clicks",
        "stir_own": "the network's prediction on MRI STIR phantoms (2.4 x 2.4 x 7.5 mm), a family it never saw",
    }
    result = {
        "name": args.name,
        "description": f"Seeds {args.first_seed}+, up to {args.cases} phantoms per base kind. " + common,
        "command": command, "machine": str(describe_machine()), "minutes": (time.time() - start) / 60,
        "load_average": [list(v) for v in load], "engines": list(engines),
        "bases": {
            kind: {"description": descriptions[kind], "summary": summarise(by_kind[kind], ks), "cases": by_kind[kind]}
            for kind in kinds if by_kind[kind]
        },
    }
    folder = Path(args.out) / args.name
    write_atomically(folder / "eval.json", lambda tmp: tmp.write_text(json.dumps(json_safe(result), indent=1)))
    write_atomically(folder / "eval.md", lambda tmp: tmp.write_text(markdown_bases(result)))
    if figure and result["bases"]:
        plot_bases(result, folder / "dsc_vs_edits.png")
    return result


if __name__ == "__main__":
    main()
