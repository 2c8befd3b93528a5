"""Fit the slice ranker on gain tables of training phantoms; choose its ridge on validation phantoms.

    python -m lib.active_learning.fit_slice_ranker \\
        --fit build/table_fit_824.json --fit-data build/phantoms/val \\
        --validate results/slice_suggestion_rules/table_val.json --validate-data build/phantoms/val \\
        --out results/slice_suggestion_rules/ranker

The fit tables' phantoms must be apart from the validation ones (and from the held-out test
phantoms, seeds 900+, which only ``lib.active_learning.evaluate_slices`` reads). For each ridge,
the ranker is fit on the fit tables and scored on the validation table
(``lib.active_learning.slice_rules.evaluate``: mean DSC of the top slice's propagated edit and its
share of the oracle's gain over random), beside the served rule (``scores.suggestion_scores``);
the ridge with the highest validation DSC is kept. With ``--refit``, the kept ranker is then fit again with that
ridge on the fit and validation phantoms together (more images; its validation numbers are then
those of the ranker fit without them). Written: ``ranker.json`` (weights and how they were chosen) and
``MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lib.active_learning.evaluate_slices import GTV
from lib.active_learning.scores import suggestion_scores
from lib.active_learning.slice_features import FEATURES, slice_features
from lib.active_learning.slice_ranker import SliceRanker, fit_ranker, ranked_scores, save_ranker
from lib.active_learning.slice_rules import case_inputs, evaluate
from lib.segmentation.evaluate import load_network

RIDGES: tuple[float, ...] = (1.0, 10.0, 100.0)


def training_images(tables: Sequence[Path], data: Path, cache: Path, networks) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fit case: its candidates' (n, F) GTV features (served label, UNet TTA mean) and (n,) DSC."""
    images = []
    for table in tables:
        for name, case in json.loads(table.read_text())["cases"].items():
            x = case_inputs(name, data, cache, networks)
            dsc = {int(k): float(v) for k, v in case["dsc_after_1_edit"].items()}
            slices = sorted(dsc)
            features = slice_features(x["p"][GTV], x["served"], case["axis"], GTV)
            images.append((features[slices], np.array([dsc[s] for s in slices])))
    return images


def ranker_rule(ranker: SliceRanker):
    """``ranker`` as a rule of ``lib.active_learning.slice_rules`` (GTV slice scores)."""
    return lambda p, label, axis: ranked_scores(p, label, axis, (GTV,), ranker)


def model_card(ranker: SliceRanker) -> str:
    info = ranker.info
    lines = ["# Slice ranker (slice suggestion), an experiment", "",
             "Ranks the slices of a label by the whole-volume DSC an edit there is expected to give once slice-edit",
             "propagation has carried it (`lib/active_learning/slice_ranker.py`). Inputs: the automatic model's",
             "UNet x 4 test-time augmentations (mean probability) and the label, per slice and its neighbours",
             "(`lib/active_learning/slice_features.py`). Linear (ridge) on standardised features; fit to the gains",
             "of one propagated GTV edit on every candidate slice, standardised within each phantom.", "",
             f"- Fit: {info['images']} phantoms, {info['slices']} slices (`{', '.join(info['fit_tables'])}`); "
             f"ridge {info['ridge']} chosen on {info['validation']['cases']} validation phantoms"
             + (" (fit without them; the shipped weights were then fit on them too)."
                if info.get("refit_with_validation") else "."),
             f"- Command: `{info['command']}`", "- Fit on the GTV; the heart is ranked with the same weights "
             "(not measured).", "", "## Validation (1 propagated edit, GTV DSC of the top slice)", "",
             "| ridge | DSC | share of oracle's gain over random draw | over the random expectation |",
             "|---|---|---|---|"]
    for ridge, row in info["validation"]["by_ridge"].items():
        lines.append(f"| {ridge} | {row['dsc']:.4f} | {row['share_vs_draw']:.2f} | {row['share_vs_expected']:.2f} |")
    before = info["validation"]["served"]
    lines += [f"| served rule (expected errors + area change) | {before['dsc']:.4f} | "
              f"{before['share_vs_draw']:.2f} | {before['share_vs_expected']:.2f} |", "",
              "## Weights (standardised features)", "", "| feature | weight |", "|---|---|"]
    lines += [f"| {name} | {w:+.3f} |" for name, w in zip(FEATURES, ranker.weights)]
    lines += ["", "Not served: the served rule is chosen on validation phantoms (`results/slice_suggestion_rules/`).", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", type=Path, nargs="+", required=True, help="gain tables to fit on")
    parser.add_argument("--fit-data", type=Path, required=True, help="the fit tables' phantoms (with labels/final)")
    parser.add_argument("--validate", type=Path, required=True, help="gain table choosing the ridge")
    parser.add_argument("--validate-data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("build/active_learning/members"))
    parser.add_argument("--ridges", type=float, nargs="+", default=list(RIDGES))
    parser.add_argument("--refit", action="store_true", help="fit the chosen ridge again on fit + validation phantoms")
    parser.add_argument("--out", type=Path, default=Path("results/slice_suggestion_rules/ranker"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    networks = {"unet": load_network("models/segmentation/weights.pt"),
                "dynunet": load_network("models/segmentation_dynunet/weights.pt")}
    fit_names = {n for t in args.fit for n in json.loads(t.read_text())["cases"]}
    validation = json.loads(args.validate.read_text())
    if fit_names & set(validation["cases"]):
        raise SystemExit(f"fit and validation phantoms overlap: {sorted(fit_names & set(validation['cases']))}")
    images = training_images(args.fit, args.fit_data, args.cache, networks)
    command = "python -m lib.active_learning.fit_slice_ranker " + shlex.join(sys.argv[1:] if argv is None else argv)
    rankers = {r: fit_ranker(images, r) for r in args.ridges}
    rules = {f"ridge {r}": ranker_rule(k) for r, k in rankers.items()}
    rules["served"] = lambda p, label, axis: suggestion_scores(p, label, axis, (GTV,))
    result = evaluate(validation, args.validate_data, args.cache, rules)["rules"]
    best = max(args.ridges, key=lambda r: result[f"ridge {r}"]["dsc"])
    by_ridge = {str(r): result[f"ridge {r}"] for r in args.ridges}
    for r, row in by_ridge.items():
        print(f"ridge {r}: DSC {row['dsc']:.4f} share vs draw {row['share_vs_draw']:.2f}")
    before = result["served"]
    print(f"served rule: DSC {before['dsc']:.4f} share vs draw {before['share_vs_draw']:.2f}")
    chosen = rankers[best]
    if args.refit:
        chosen = fit_ranker(images + training_images([args.validate], args.validate_data, args.cache, networks), best)
    ranker = SliceRanker(chosen.mean, chosen.scale, chosen.weights, FEATURES, dict(
        chosen.info, command=command,
        fit_tables=[str(t) for t in args.fit] + ([str(args.validate)] if args.refit else []),
        refit_with_validation=args.refit,
        validation={"table": str(args.validate), "cases": len(validation["cases"]), "by_ridge": by_ridge,
                    "served": result["served"]}))
    save_ranker(ranker, args.out / "ranker.json")
    (args.out / "MODEL_CARD.md").write_text(model_card(ranker))
    print(f"ridge {best} kept: {args.out / 'ranker.json'}")


if __name__ == "__main__":
    main()
