"""Per-click latency of 2S-ICR through the REST API: session cache + kept previous answer vs reload.

    python -m benchmarks.two_stage_latency --clicks 10 --out results/two_stage_ct/latency.json
    python -m benchmarks.two_stage_latency --clicks 3 --untrained          # a quick check
    python -m benchmarks.two_stage_latency --clicks 10 --modality petct --out results/two_stage_petct/latency.json

Starts a real MONAI Label server (``apps/radiotherapy/launch.py``) with only the 2S-ICR
config, on the Gaussian-click benchmark's two studies (:func:`benchmarks.click_latency.write_studies`:
``region``, a 128 x 128 x 64 voxel crop around a tumour at 1.5 x 1.5 x 3 mm, and ``whole``,
the 224 x 192 x 80 phantom it was cut from). Per study and mode, one session: a request
without clicks (stage 1's automatic answer), then ``--clicks`` requests that each add one
click and send all clicks so far, as Slicer does; the server refines the session's last
answer each time (Algorithm 1). Modes, in the same run on the same server: ``cached`` (the
session cache holds the pre-processed image; a click costs one refinement pass) and
``plain`` (``"use_cache": false``: load and pre-process on every request, as stock MONAI
Label tasks do; the previous answer is still kept). Times are the client's wall time per
request; reported: the 0-click request, the first click, then p50 / p95 / mean of the other
clicks (ms), the plain / cached ratio of p50, and, in-process, the time of
:func:`lib.two_stage.engine.next_answer` per click on the prepared region (the network pass
and the resampling, no HTTP). Threads: ``--threads`` (default 1) for the server and the
in-process timing. JSON on stdout (and in ``--out``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from apps.radiotherapy.launch import APP_DIR, start_server  # noqa: E402
from benchmarks.click_latency import WHOLE, click_sequence, peak_rss_mb, write_studies  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from benchmarks.report import emit  # noqa: E402

MODEL = "two_stage"
SHIPPED_STAGE1 = REPO / "models" / "segmentation" / "weights.pt"
SHIPPED_REFINEMENT = REPO / "models" / "two_stage_ct" / "weights.pt"
#: modality -> (stage 1, refinement, image channels): the shipped models.
SHIPPED = {
    "ct": (SHIPPED_STAGE1, SHIPPED_REFINEMENT, 1),
    "petct": (REPO / "models" / "two_stage_petct" / "stage1.pt", REPO / "models" / "two_stage_petct" / "weights.pt", 2),
}


def untrained_refinement(folder: Path) -> Path:
    """Random-init refinement weights (latency does not depend on the weights' values)."""
    import torch

    from lib.two_stage.network import CPU_CHANNELS, refinement_unet

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "refinement.pt"
    torch.save({"model": refinement_unet(1).state_dict(), "image_channels": 1, "channels": list(CPU_CHANNELS)}, path)
    return path


def session_times(client, image_id: str, sequence: list[dict], use_cache: bool) -> list[float]:
    """Wall times (ms): the 0-click request, then one per click (all clicks so far each time)."""
    times = []
    for params in [{"label": "gtv", "foreground": [], "background": []}, *sequence]:
        start = time.perf_counter()
        label_file, _ = client.infer(MODEL, image_id, {**params, "use_cache": use_cache})
        times.append((time.perf_counter() - start) * 1000)
        os.unlink(label_file)
    return times


def summarise(times: list[float]) -> dict:
    """0-click, first click, then p50 / p95 / mean of the later clicks (ms)."""
    rest = times[2:] if len(times) > 2 else times[1:]
    return {"zero_click_ms": round(times[0], 1), "first_click_ms": round(times[1], 1),
            "p50_ms": round(float(np.percentile(rest, 50)), 1), "p95_ms": round(float(np.percentile(rest, 95)), 1),
            "mean_ms": round(float(np.mean(rest)), 1), "clicks": len(times) - 1}


def in_process(region: Path, stage1: Path, refinement: Path, sequence: list[dict], channels: int = 1) -> dict:
    """Per-click time of next_answer on the prepared region (no HTTP), ms: p50 / p95 over clicks 2..n."""
    from lib.interaction.clicks import parse_clicks
    from lib.two_stage.engine import TwoStageModel, next_answer
    from lib.two_stage.preprocess import prepare_file

    model = TwoStageModel.from_weights([stage1], [refinement])
    prepared = prepare_file(region, channels)
    state = next_answer(model, prepared, ())
    times = []
    for params in sequence:
        clicks = parse_clicks(params)
        start = time.perf_counter()
        state = next_answer(model, prepared, clicks, state)
        times.append((time.perf_counter() - start) * 1000)
    rest = times[1:] if len(times) > 1 else times
    return {"model_space_shape": list(prepared.spatial_shape), "p50_ms": round(float(np.median(rest)), 1),
            "p95_ms": round(float(np.percentile(rest, 95)), 1), "first_ms": round(times[0], 1)}


def run(clicks: int, untrained: bool, seed: int, threads: int, modality: str = "ct") -> dict:
    from monailabel.client import MONAILabelClient

    stage1, refinement, channels = SHIPPED[modality]
    root = Path(tempfile.mkdtemp(prefix="two_stage_latency_"))
    try:
        studies = write_studies(root / "datastore", pet=modality == "petct")
        weights = str(refinement)
        if untrained or not refinement.exists():
            if modality != "ct":
                raise SystemExit(f"no shipped {modality} refinement weights at {refinement}")
            refinement, weights = untrained_refinement(root / "weights"), "untrained refinement (latency only)"
        (root / "client").mkdir()
        conf = {"models": "two_stage", "model_dir": root / "model", "two_stage_stage1": stage1,
                "two_stage_refinement": refinement, "two_stage_modality": modality}
        env = {"MONAI_LABEL_SESSION_PATH": str(root / "sessions"), "OMP_NUM_THREADS": str(threads)}
        with start_server(APP_DIR, root / "datastore", conf, root / "server.log", env_extra=env,
                          timeout_s=300) as server:
            client = MONAILabelClient(server.url, tmpdir=str(root / "client"))
            users = {mode: MONAILabelClient(server.url, tmpdir=str(root / "client"), client_id=f"bench_{mode}")
                     for mode in ("cached", "plain")}  # the server keeps one last answer per client
            if MODEL not in client.info()["models"]:
                raise SystemExit(f"the server offers no '{MODEL}' model; see {root / 'server.log'}")
            results, ratios = [], {}
            for image_id, study in studies.items():
                sequence = click_sequence(study["gtv"], clicks, np.random.default_rng(seed))
                rows = {}
                for mode, use_cache in (("cached", True), ("plain", False)):
                    rows[mode] = summarise(session_times(users[mode], image_id, sequence, use_cache))
                    results.append({"image": image_id, "shape": study["shape"], "mode": mode, **rows[mode]})
                ratios[image_id] = round(rows["plain"]["p50_ms"] / rows["cached"]["p50_ms"], 2)
            memory = peak_rss_mb(server.process.pid)
        import torch

        torch.set_num_threads(threads)
        region_sequence = click_sequence(studies["region"]["gtv"], clicks, np.random.default_rng(seed))
        engine = in_process(root / "datastore" / "region.nii.gz", stage1, refinement, region_sequence, channels)
        return {
            "benchmark": "two_stage_latency",
            "machine": asdict(describe_machine()),
            "threads": threads,
            "modality": modality,
            "weights": {"stage1": str(stage1), "refinement": weights},
            "clicks_per_session": clicks,
            "studies": {k: {"shape": v["shape"], "spacing_mm": list(WHOLE.spacing)} for k, v in studies.items()},
            "results": results,
            "plain_over_cached_p50": ratios,
            "in_process_region": engine,
            "target": "per-click p50 (cached, previous answer kept) < 1000 ms on the 128 x 128 x 64 region",
            "target_met": next(r["p50_ms"] for r in results if r["image"] == "region" and r["mode"] == "cached")
            < 1000.0,
            "server": memory,
            "notes": "wall time of each REST request as the client sees it (upload of the params, inference, "
                     "writing and downloading the label); zero_click = stage 1 (includes loading in 'cached' "
                     "mode); first_click = the first refinement; p50/p95/mean over clicks 2..n",
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=10, help="clicks per session (>= 3)")
    parser.add_argument("--untrained", action="store_true", help="random refinement weights")
    parser.add_argument("--seed", type=int, default=0, help="seed of the click positions")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (server and in-process)")
    parser.add_argument("--modality", choices=sorted(SHIPPED), default="ct",
                        help="ct: the CT models; petct: the PET-CT ones on a PET-CT phantom")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.clicks < 3:
        parser.error("--clicks must be at least 3 (the first click is reported apart)")
    return emit(run(args.clicks, args.untrained, args.seed, args.threads, args.modality), args.out)


if __name__ == "__main__":
    main()
