"""Per-click latency of the Gaussian-click model through the REST API: session cache vs reload.

    python -m benchmarks.click_latency --clicks 20 --out results/click_latency.json
    python -m benchmarks.click_latency --clicks 3 --untrained          # a quick check

Starts a real MONAI Label server (with ``apps/radiotherapy/launch.py``, as the server tests do) with only the
Gaussian-click config, on two generated studies at 1.5 x 1.5 x 3 mm:

- ``region``: a 128 x 128 x 64 voxel crop around a tumour (what a user contours);
- ``whole``: the whole phantom it was cut from, 224 x 192 x 80 voxels.

Each model (2D, and 3D when it has weights) answers ``--clicks`` requests per study in two
modes, in the same run on the same server: ``cached`` (the session cache: the first request
loads and pre-processes, later ones cost a network pass) and ``plain`` (``"use_cache": false``:
load and pre-process on every request, as stock MONAI Label infer tasks do). A request sends
all clicks so far, on one slice, as Slicer's SmartEdit does; the time is the client's wall
time for the whole request (upload of the params, inference, writing and downloading the
label). A third mode, ``drag`` (cached), moves the newest foreground click by one voxel per
request, as a user dragging a click in Slicer does: it must cost what a new click costs.
Reported per study, model and mode: the first request, then p50 / p95 / mean of the
rest, in ms; the plain / cached ratio of p50; the server's peak resident memory (VmHWM); the
machine (CPU model from /proc/cpuinfo, cores). JSON on stdout (and in ``--out``).

Weights: ``--models`` (default the repository's ``models``) holding
``gaussian_click_<d>d/weights.pt``; with ``--untrained``, or when there are none, random
weights are written to a temporary folder: latency does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from apps.radiotherapy.launch import APP_DIR, start_server  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.phantom import LABELS, PhantomConfig, generate_phantom  # noqa: E402
from lib.phantom.io import save_nifti_atomic  # noqa: E402
from benchmarks.report import emit  # noqa: E402

WHOLE = PhantomConfig(seed=901, shape=(224, 192, 80), spacing=(1.5, 1.5, 3.0))
REGION_SHAPE = (128, 128, 64)


def write_studies(folder: Path, pet: bool = False) -> dict[str, dict]:
    """The whole phantom and a 128 x 128 x 64 crop around its tumour; per study: shape, a click slice, centre.
    With ``pet`` the files hold CT and PET as (X, Y, Z, 2), as the phantom datastore writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    phantom = generate_phantom(replace(WHOLE, pet=pet))
    gtv = phantom.label == LABELS["gtv"]
    centre = np.argwhere(gtv).mean(axis=0).round().astype(int)
    start = [int(np.clip(c - n // 2, 0, s - n)) for c, n, s in zip(centre, REGION_SHAPE, gtv.shape)]
    box = tuple(slice(a, a + n) for a, n in zip(start, REGION_SHAPE))
    shift = np.eye(4)
    shift[:3, 3] = start
    image = phantom.image[0] if not pet else np.moveaxis(phantom.image, 0, -1)  # (X, Y, Z[, 2])
    save_nifti_atomic(image, phantom.affine, folder / "whole.nii.gz")
    save_nifti_atomic(image[box], phantom.affine @ shift, folder / "region.nii.gz")
    return {
        "whole": {"shape": list(gtv.shape), "gtv": gtv},
        "region": {"shape": list(REGION_SHAPE), "gtv": gtv[box]},
    }


def click_sequence(gtv: np.ndarray, count: int, rng: np.random.Generator) -> list[dict]:
    """Request params after 1..count clicks on the tumour's middle slice: first inside, then mixed."""
    k = int(np.argwhere(gtv)[:, 2].mean().round())
    inside = np.argwhere(gtv[:, :, k])
    outside = np.argwhere(~gtv[:, :, k])
    foreground, background, params = [], [], []
    for n in range(count):
        if n % 3 == 2:
            i, j = outside[rng.integers(len(outside))]
            background.append([int(i), int(j), k])
        else:
            i, j = inside[rng.integers(len(inside))]
            foreground.append([int(i), int(j), k])
        params.append({"label": "gtv", "foreground": list(foreground), "background": list(background)})
    return params


def drag_sequence(clicks: list[dict], count: int, shape: Sequence[int]) -> list[dict]:
    """Request params that move the newest foreground click of ``clicks[-1]`` one voxel (along i)
    per request, ``count`` requests, staying inside an image of ``shape``; the other clicks stay."""
    last = clicks[-1]
    i, j, k = last["foreground"][-1]
    step = -1 if i + count >= shape[0] else 1
    return [{**last, "foreground": [*last["foreground"][:-1], [i + step * (n + 1), j, k]]} for n in range(count)]


def write_untrained_weights(folder: Path, dims: Sequence[int]) -> Path:
    """Random-init weights for each model, in the layout the config reads."""
    import torch

    from lib.gaussian_click.network import gaussian_click_net

    for d in dims:
        (folder / f"gaussian_click_{d}d").mkdir(parents=True, exist_ok=True)
        torch.save({"model": gaussian_click_net(d).state_dict()}, folder / f"gaussian_click_{d}d" / "weights.pt")
    return folder


def peak_rss_mb(pid: int) -> dict:
    """Peak (VmHWM) and current (VmRSS) resident memory of the server process, MiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmHWM:", "VmRSS:")):
                name, kib = line.split()[:2]
                values[name.rstrip(":")] = int(kib) / 1024
    return {"peak_rss_mb": round(values.get("VmHWM", float("nan")), 1),
            "rss_mb_at_end": round(values.get("VmRSS", float("nan")), 1)}


def time_requests(client, model: str, image_id: str, sequence: list[dict], use_cache: bool) -> tuple[list, list]:
    """Wall time (ms) of each request of ``sequence``, and the server's own latencies (s) of each.

    The label files are deleted as they come.
    """
    times, server = [], []
    for params in sequence:
        start = time.perf_counter()
        label_file, result = client.infer(model, image_id, {**params, "use_cache": use_cache})
        times.append((time.perf_counter() - start) * 1000)
        server.append(result.get("latencies", {}))
        os.unlink(label_file)
    return times, server


def summary(times: list[float], server: list[dict]) -> dict:
    """First request, then p50 / p95 / mean of the rest (ms); the server's median split of the rest."""
    rest, rest_server = (times[1:], server[1:]) if len(times) > 1 else (times, server)
    split = {f"server_{stage}_ms_p50": round(1000 * float(np.median([s.get(stage, np.nan) for s in rest_server])), 1)
             for stage in ("pre", "infer", "write", "total")}
    return {"first_ms": round(times[0], 1), "p50_ms": round(float(np.percentile(rest, 50)), 1),
            "p95_ms": round(float(np.percentile(rest, 95)), 1), "mean_ms": round(float(np.mean(rest)), 1),
            "requests": len(times), **split}


def run(clicks: int, models: Path | None, untrained: bool, seed: int) -> dict:
    from monailabel.client import MONAILabelClient

    root = Path(tempfile.mkdtemp(prefix="click_latency_"))
    try:
        studies = write_studies(root / "datastore")
        if untrained or models is None or not any(models.glob("gaussian_click_*d/weights.pt")):
            models, weights = write_untrained_weights(root / "models", (2, 3)), "untrained (latency only)"
        else:
            weights = str(models)
        (root / "client").mkdir()
        conf = {"models": "gaussian_click", "model_dir": root / "model", "gaussian_click_models": models}
        with start_server(APP_DIR, root / "datastore", conf, root / "server.log",
                          env_extra={"MONAI_LABEL_SESSION_PATH": str(root / "sessions")}, timeout_s=300) as server:
            client = MONAILabelClient(server.url, tmpdir=str(root / "client"))
            available = [m for m in ("gaussian_click_2d", "gaussian_click_3d") if m in client.info()["models"]]
            results, ratios, drag_ratios = [], {}, {}
            for image_id, study in studies.items():
                sequence = click_sequence(study["gtv"], clicks, np.random.default_rng(seed))
                for model in available:
                    rows = {}
                    series = {"cached": (sequence, True), "plain": (sequence, False),
                              "drag": ([sequence[-1], *drag_sequence(sequence, clicks, study["shape"])], True)}
                    for mode, (requests, use_cache) in series.items():
                        rows[mode] = summary(*time_requests(client, model, image_id, requests, use_cache))
                        results.append({"image": image_id, "shape": study["shape"], "model": model, "mode": mode,
                                        **rows[mode]})
                    ratios[f"{image_id}/{model}"] = round(rows["plain"]["p50_ms"] / rows["cached"]["p50_ms"], 2)
                    drag_ratios[f"{image_id}/{model}"] = round(rows["drag"]["p50_ms"] / rows["cached"]["p50_ms"], 2)
            memory = peak_rss_mb(server.process.pid)
        return {
            "benchmark": "click_latency",
            "machine": asdict(describe_machine()),
            "weights": weights,
            "clicks_per_series": clicks,
            "studies": {k: {"shape": v["shape"], "spacing_mm": list(WHOLE.spacing)} for k, v in studies.items()},
            "results": results,
            "plain_over_cached_p50": ratios,
            "drag_over_cached_p50": drag_ratios,
            "server": memory,
            "notes": "wall time of each REST request as the client sees it; first = the request that loads "
                     "(cache miss in 'cached' mode); p50/p95/mean over the other requests; server_*: the "
                     "server's own latencies (MONAI Label's pre = loading + pre-processing, infer = network "
                     "and inversion to the input grid, write = the label file), median over the same requests",
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=20, help="requests per study, model and mode (>= 2)")
    parser.add_argument("--models", type=Path, default=REPO / "models",
                        help="folder with gaussian_click_<d>d/weights.pt")
    parser.add_argument("--untrained", action="store_true", help="random weights (latency does not depend on them)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the click positions")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.clicks < 2:
        parser.error("--clicks must be at least 2 (the first request of a series is reported apart)")
    return emit(run(args.clicks, args.models, args.untrained, args.seed), args.out)


if __name__ == "__main__":
    main()
