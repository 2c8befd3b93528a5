"""Command line: evaluate interactive segmenters with simulated clicks on held-out phantoms.

    python -m lib.evaluation --name baselines --methods random_walker,graph_cut \\
        --cases 10 --first-seed 900 --structure gtv --simulator din_evaluation --max-clicks 20 --seed 0

runs every method on the ``--structure`` of phantoms ``--first-seed`` .. ``--first-seed +
--cases - 1`` (the datastore's configs; seeds from 900 on are never used for training),
each cropped to the structure's bounding box plus ``--margin-mm`` (30 mm), and writes
``results/<name>/eval.json`` (every per-case, per-click number and the summaries),
``results/<name>/eval.md`` (the table) and ``results/<name>/dsc_vs_clicks.png``.

Methods: ``random_walker``, ``graph_cut``, ``remote`` (a running MONAI Label server:
``--server http://127.0.0.1:8000 --model NAME [--label-value 1]``), any name a method
registered with :func:`lib.evaluation.registry.register_segmenter`, or a factory path
``package.module:attribute``.

Simulators (``--simulator``): ``din_evaluation`` (centre of the largest error; deterministic),
``border_distance`` (DeepGrow / 2S-ICR), ``gaussian_click`` (Gaussian-click paper).
``--click-mode own`` (default) simulates each method's clicks against its own answers;
``--click-mode shared`` simulates them once against ``--reference`` (default: the first
method) and replays them to the others. ``--first-click prediction`` chooses the first click
against the zero-click answer instead of an empty prediction (for automatic-first methods).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from lib.evaluation.cases import DEFAULT_MARGIN_MM, HELD_OUT_FIRST_SEED, phantom_cases
from lib.evaluation.harness import evaluate
from lib.evaluation.registry import make_segmenter
from lib.evaluation.report import write_report
from lib.evaluation.simulators import SIMULATORS
from lib.phantom import LABELS


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m lib.evaluation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", required=True, help="run name: results go to <out>/<name>/")
    parser.add_argument("--methods", default="random_walker,graph_cut", help="comma-separated segmenter names")
    parser.add_argument("--cases", type=int, default=10, help="number of phantoms")
    parser.add_argument("--first-seed", type=int, default=HELD_OUT_FIRST_SEED, help="seed of the first phantom")
    parser.add_argument("--structure", choices=sorted(LABELS), default="gtv", help="the structure to segment")
    parser.add_argument("--modality", choices=("ct", "mri_stir"), default="ct")
    parser.add_argument("--pet", action="store_true", help="phantoms with a PET channel")
    parser.add_argument("--margin-mm", type=float, default=DEFAULT_MARGIN_MM,
                        help="ROI margin around the structure, mm; negative for the whole image")
    parser.add_argument("--simulator", choices=sorted(SIMULATORS), default="din_evaluation")
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated users")
    parser.add_argument("--click-mode", choices=("own", "shared"), default="own")
    parser.add_argument("--reference", default=None, help="shared mode: the method whose answers choose the clicks")
    parser.add_argument("--first-click", choices=("empty", "prediction"), default="empty")
    parser.add_argument("--out", default="results", help="results folder")
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="remote: MONAI Label server URL")
    parser.add_argument("--model", default=None, help="remote: the server's infer model")
    parser.add_argument("--label-value", type=int, default=None, help="remote: label value of the structure")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the evaluation the arguments describe; print and return the summaries."""
    args = parse_args(argv)
    if args.cases < 1 or args.max_clicks < 0:
        raise SystemExit(f"--cases must be >= 1 and --max-clicks >= 0, got {args.cases} and {args.max_clicks}")
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    options = {"server": args.server, "model": args.model, "label_value": args.label_value}
    try:
        segmenters = [make_segmenter(name, **options) for name in names]
    except ValueError as error:  # unknown name, missing --model: say so without a traceback
        raise SystemExit(f"python -m lib.evaluation: {error}") from None
    margin = None if args.margin_mm < 0 else args.margin_mm
    cases = phantom_cases(args.cases, args.first_seed, args.structure, margin, args.modality, args.pet)
    start = time.perf_counter()
    try:
        result = evaluate(
            segmenters, cases, args.simulator, args.max_clicks, args.seed, args.click_mode, args.reference,
            args.first_click, progress=True, total_cases=args.cases,
        )
    finally:
        for segmenter in segmenters:
            getattr(segmenter, "close", lambda: None)()
    result["command"] = {k: v for k, v in vars(args).items()}
    result["phantoms"] = {"first_seed": args.first_seed, "structure": args.structure, "margin_mm": margin,
                          "modality": args.modality, "pet": args.pet}
    result["wall_seconds"] = time.perf_counter() - start
    paths = write_report(result, args.out, args.name)
    summaries = {
        name: {key: m[key] for key in ("dsc_at_clicks", "noc", "noc_failed", "worse_click_fraction")}
        for name, m in result["methods"].items()
    }
    print(json.dumps({"results": {k: str(p) for k, p in paths.items()}, "wall_seconds": result["wall_seconds"],
                      "methods": summaries}, indent=1))
    return result
