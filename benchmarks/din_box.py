"""DIN's box mode (the paper's DINs-box) against whole-volume mode: DSC and time per click.

    OMP_NUM_THREADS=1 python -m benchmarks.din_box --cases 10 --out results/din_box

Held-out phantoms (seeds 900+), the GTV, on the WHOLE image (no ROI crop: 112 x 96 x 40
voxels, larger than the 48 x 48 x 16 training patches). Two segmenters with the same
weights: ``din`` (whole volume) and ``din_box`` (inference inside the user's boxes only).
The simulated user draws one box per tumour (26-connected component of the truth), its
bounding box grown by ``--box-margin`` voxels (X, Y, Z), and clicks as DIN's evaluation user
(centre of the largest error): by default against each mode's own answers (``--click-mode
own``); ``--click-mode shared`` replays ``din``'s clicks to ``din_box``. The box is the user's input, like the clicks: the segmenter never
sees the truth. Writes the harness report (``eval.json``, ``eval.md``, ``dsc_vs_clicks.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cc3d
import numpy as np
import torch
from scipy.ndimage import find_objects

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lib.din.segmenter import DinHarnessSegmenter, shipped_weights  # noqa: E402
from lib.evaluation.cases import HELD_OUT_FIRST_SEED, phantom_cases  # noqa: E402
from lib.evaluation.harness import evaluate  # noqa: E402
from lib.evaluation.protocol import Case  # noqa: E402
from lib.evaluation.report import write_report  # noqa: E402
from lib.machine import describe_machine  # noqa: E402

BOX_MARGIN = (3, 3, 1)


def user_boxes(case: Case, margin: Sequence[int] = BOX_MARGIN) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """One box per tumour: its bounding box grown by ``margin`` voxels, as inclusive corners (X, Y, Z)."""
    labels = cc3d.connected_components(case.truth, connectivity=26)
    shape = np.asarray(case.spatial_shape)
    boxes = []
    for box in find_objects(labels):
        if box is None:
            continue
        low = np.maximum([s.start for s in box] - np.asarray(margin), 0)
        high = np.minimum([s.stop - 1 for s in box] + np.asarray(margin), shape - 1)
        boxes.append((tuple(int(v) for v in low), tuple(int(v) for v in high)))
    return boxes


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=shipped_weights())
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=HELD_OUT_FIRST_SEED)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--box-margin", type=int, nargs=3, default=list(BOX_MARGIN), metavar=("X", "Y", "Z"))
    parser.add_argument("--click-mode", choices=("shared", "own"), default="own",
                        help="own: each mode's user reacts to its own answers; shared: din's clicks replayed")
    parser.add_argument("--out", type=Path, default=Path("results/din_box"))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    margin = tuple(args.box_margin)
    whole = DinHarnessSegmenter(args.weights, name="din")
    boxed = DinHarnessSegmenter(args.weights, name="din_box", boxes_for=lambda case: user_boxes(case, margin))
    cases = phantom_cases(args.cases, args.first_seed, "gtv", None)
    start = time.perf_counter()
    result = evaluate([whole, boxed], cases, "din_evaluation", args.max_clicks, 0, args.click_mode, "din",
                      progress=True, total_cases=args.cases)
    result["command"] = {"benchmark": "din_box", **{k: str(v) for k, v in vars(args).items()}}
    result["phantoms"] = {"first_seed": args.first_seed, "structure": "gtv", "margin_mm": None, "modality": "ct",
                          "pet": False}
    result["machine"] = str(describe_machine())
    result["wall_seconds"] = time.perf_counter() - start
    paths = write_report(result, args.out.parent, args.out.name)
    summary = {name: {"dsc_at_clicks": {k: m["dsc_at_clicks"][k] for k in ("1", "5", "10", "20") if k in m["dsc_at_clicks"]},
                      "noc": m["noc"], "seconds_per_answer": m["seconds_per_answer"]}
               for name, m in result["methods"].items()}
    print(json.dumps({"results": {k: str(p) for k, p in paths.items()}, "methods": summary}, indent=1))
    return result


if __name__ == "__main__":
    main()
