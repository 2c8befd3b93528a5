"""Seconds per slice edit of slice-edit propagation: cached features vs recomputing them.

    python -m benchmarks.slice_edit_latency --edits 8 --out results/slice_edit_latency.json

On a 128 x 128 x 64 voxel study (1.5 x 1.5 x 3 mm, cut around a phantom's tumour; the
same study as ``benchmarks/click_latency.py``'s region), with the shipped automatic model
and fusion module, the simulated user redraws one tumour slice after another (each request
carries every edit so far, as the Slicer module sends them). Three modes in the same run:

- ``cached``: image and window features from the session cache (what the server does);
- ``recompute_features``: image cached, the network's front re-run for every edit;
- ``reload``: the image read and pre-processed and the front re-run for every edit.

- ``cached_paper``: as ``cached`` with the engine's correction off (the network's answer
  always answers; the paper's method): the cost of choosing the path and correcting the label.

``--base own`` (default) edits the network's prediction (the ``network`` path answers);
``--base eroded`` edits the truth eroded by a voxel in every axial slice, a label the
network never drew (the ``correction`` path, or the guard's ``fallback``).

Per mode: the first edit apart, then p50 / p95 / mean seconds of the rest; the ratios of
each mode's p50 to ``cached``'s; the paths that answered; the process's peak resident
memory; the machine and its load average before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.click_latency import write_studies  # noqa: E402
from lib.imaging.prepare import prepare_file  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.propagation.bases import eroded  # noqa: E402
from lib.propagation.engine import PropagationEngine, check_edits  # noqa: E402
from lib.propagation.train_fusion import load_fusion  # noqa: E402
from lib.propagation.update import UpdateSettings  # noqa: E402
from lib.segmentation.evaluate import load_network  # noqa: E402
from lib.segmentation.predict import predict_file  # noqa: E402
from lib.session_cache import SessionCache  # noqa: E402
from benchmarks.report import emit  # noqa: E402

MODES = ("cached", "recompute_features", "reload", "cached_paper")


def edit_sequence(prediction: np.ndarray, gtv: np.ndarray, count: int) -> list[tuple[np.ndarray, list[int]]]:
    """(label, slices) after 1..count edits: tumour slices from the middle outwards redrawn as the truth."""
    z = np.flatnonzero(gtv.any(axis=(0, 1)))
    middle = int(z.mean())
    order = sorted(z, key=lambda s: (abs(s - middle), s))[:count]
    label, sequence = prediction.copy(), []
    for n, s in enumerate(order):
        plane = label[..., s]
        plane[plane == 1] = 0
        plane[gtv[..., s]] = 1
        sequence.append((label.copy(), [int(v) for v in order[: n + 1]]))
    return sequence


def time_mode(mode: str, engine: PropagationEngine, path: Path, sequence) -> tuple[list[float], list[str]]:
    """Seconds per request of one mode, and the path that answered each."""
    engine.cache.clear()
    prepared = prepare_file(path, 3)
    correction = engine.correction
    if mode == "cached_paper":
        engine.correction = None
    times, paths = [], []
    try:
        for label, slices in sequence:
            start = time.perf_counter()
            if mode == "reload":
                prepared = prepare_file(path, 3)
            key = None if mode not in ("cached", "cached_paper") else str(path)
            answer = engine.propagate(prepared, check_edits(label, slices, 2, label.shape), key=key)
            times.append(time.perf_counter() - start)
            paths.append(answer.choice.path)
    finally:
        engine.correction = correction
    return times, paths


def summary(timed: tuple[list[float], list[str]]) -> dict:
    times, paths = timed
    rest = np.asarray(times[1:])
    return {
        "paths": {p: paths.count(p) for p in sorted(set(paths))},
        "first_s": times[0],
        "p50_s": float(np.percentile(rest, 50)),
        "p95_s": float(np.percentile(rest, 95)),
        "mean_s": float(rest.mean()),
        "requests": len(times),
    }


def run(
    edits: int, weights: Path, fusion: Path | None, settings: UpdateSettings = UpdateSettings(), base: str = "own"
) -> dict:
    load_before = os.getloadavg()
    network = load_network(weights)
    module = load_fusion(fusion)[0] if fusion is not None and fusion.exists() else None
    engine = PropagationEngine(network, 2, module, settings=settings, cache=SessionCache(4, 2 * 1024**3))
    with tempfile.TemporaryDirectory() as folder:
        studies = write_studies(Path(folder))
        path = Path(folder) / "region.nii.gz"
        gtv = studies["region"]["gtv"]
        if base == "own":
            start_label, _ = predict_file(network, path)
        else:  # the truth's GTV eroded by a voxel per axial slice; nothing else drawn
            start_label = eroded(gtv).astype(np.uint8)
        sequence = edit_sequence(start_label, gtv, edits)
        modes = {mode: summary(time_mode(mode, engine, path, sequence)) for mode in MODES}
    for mode in MODES:
        modes[mode]["p50_ratio_to_cached"] = modes[mode]["p50_s"] / modes["cached"]["p50_s"]
    return {
        "benchmark": "slice_edit_latency",
        "study": "128 x 128 x 64 voxels at 1.5 x 1.5 x 3 mm (model space 64 x 64 x 32)",
        "weights": str(weights),
        "fusion": str(fusion) if module is not None else None,
        "edits": len(sequence),
        "base": base,
        "update": vars(settings),
        "modes": modes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": str(describe_machine()),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=8, help="edits per mode (>= 2)")
    parser.add_argument("--weights", type=Path, default=REPO / "models" / "segmentation" / "weights.pt")
    parser.add_argument("--fusion", type=Path, default=REPO / "models" / "propagation_unet" / "fusion.pt")
    parser.add_argument("--lr", type=float, default=UpdateSettings.lr, help="feature-update learning rate")
    parser.add_argument("--iterations", type=int, default=UpdateSettings.iterations, help="feature-update steps at most")
    parser.add_argument("--base", choices=("own", "eroded"), default="own", help="the label the edits go into")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.edits < 2:
        parser.error("--edits must be at least 2 (the first edit is reported apart)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    settings = UpdateSettings(iterations=args.iterations, lr=args.lr)
    return emit(run(args.edits, args.weights, args.fusion, settings, args.base), args.out)


if __name__ == "__main__":
    main()
