"""Per-click latency of DIN through the REST API: session cache vs reload, whole region vs box.

    OMP_NUM_THREADS=1 python -m benchmarks.din_latency --clicks 20 --out results/din_latency/latency.json
    OMP_NUM_THREADS=1 python -m benchmarks.din_latency --modality mri_stir --clicks 20 \
        --out results/din_stir/latency.json

The same studies and click series as :mod:`benchmarks.click_latency` (reused from it): a
128 x 128 x 64 voxel region at 1.5 x 1.5 x 3 mm around a tumour (what a user contours) and
the whole 224 x 192 x 80 phantom it was cut from. A real MONAI Label server with only the
DIN config answers ``--clicks`` requests per study in three modes, in one run on one server:

- ``cached``: the session cache (the first request loads and pre-processes, later ones cost
  guides + one network pass + resampling the answer onto the image grid);
- ``plain``: ``"use_cache": false``, load and pre-process on every request (stock MONAI Label);
- ``cached_box``: cached, with one box (the tumour's bounding box grown by 10 voxels in plane
  and 3 slices) in the request: the paper's DINs-box, inference inside the box only.

Reported per study and mode: the first request, then p50 / p95 / mean of the rest (ms, the
client's wall time for the whole request), the server's own split, the plain / cached ratio,
the server's peak memory and the machine. JSON on stdout (and in ``--out``). Weights:
``--models`` holding ``din/weights.pt``; ``--untrained`` (or none there) writes random ones of
the same architecture: latency does not depend on the weights' values.

``--modality mri_stir`` serves ``din_stir/weights.pt`` (``--conf din_model din_stir``) on
MRI-STIR-like studies instead: the whole STIR phantom as the datastore writes it (144 x 112
x 32 at 2.4 x 2.4 x 7.5 mm) and a 128 x 128 x 64 voxel STIR study at the same spacing (the
region; DIN's STIR model space is the STIR grid itself, so the network sees all 128 x 128 x
64 voxels, eight times what it sees of the CT region). Clicks go on the largest tumour.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from apps.radiotherapy.launch import APP_DIR, start_server  # noqa: E402
from benchmarks.click_latency import WHOLE, click_sequence, peak_rss_mb, summary, time_requests, write_studies  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from benchmarks.report import emit  # noqa: E402

BOX_MARGIN = (10, 10, 3)
#: The STIR studies: (name, shape); spacing and everything else from ``stir_config``.
STIR_STUDIES = (("whole", None), ("region", (128, 128, 64)))
STIR_SEED = 901


def tumour_box(gtv: np.ndarray, margin: Sequence[int] = BOX_MARGIN) -> list[list[int]]:
    """The GTV's bounding box grown by ``margin`` voxels (X, Y, Z), clipped: two inclusive corners."""
    points = np.argwhere(gtv)
    low = np.maximum(points.min(axis=0) - np.asarray(margin), 0)
    high = np.minimum(points.max(axis=0) + np.asarray(margin), np.asarray(gtv.shape) - 1)
    return [[int(v) for v in low], [int(v) for v in high]]


def write_untrained_weights(folder: Path, model: str = "din", modality: str = "ct") -> Path:
    """Random-init DIN weights (shipped architecture) in the layout the config reads."""
    import torch

    from lib.din.network import CPU_WIDTHS, din_network

    (folder / model).mkdir(parents=True, exist_ok=True)
    torch.save({"model": din_network().state_dict(), "widths": list(CPU_WIDTHS), "deep_guides": True,
                "guide": "exp", "sigma": [5.0, 5.0, 1.0], "gamma": 1.0, "modality": modality},
               folder / model / "weights.pt")
    return folder


def largest_tumour(gtv: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a GTV mask (STIR studies have many small tumours)."""
    import cc3d

    components = cc3d.connected_components(gtv, connectivity=26)
    counts = np.bincount(components.ravel())
    return components == (int(np.argmax(counts[1:])) + 1)


def write_stir_studies(folder: Path) -> dict[str, dict]:
    """The STIR studies of :data:`STIR_STUDIES`; per study: shape and the GTV (all tumours)."""
    from lib.phantom import LABELS, generate_phantom
    from lib.phantom.config import stir_config
    from lib.phantom.io import save_phantom

    folder.mkdir(parents=True, exist_ok=True)
    studies = {}
    for name, shape in STIR_STUDIES:
        config = stir_config(seed=STIR_SEED, **({"shape": shape} if shape else {}))
        phantom = generate_phantom(config)
        save_phantom(phantom, folder / f"{name}.nii.gz")
        studies[name] = {"shape": list(config.shape), "spacing_mm": list(config.spacing),
                         "gtv": phantom.label == LABELS["gtv"]}
    return studies


def run(clicks: int, models: Path | None, untrained: bool, seed: int, modality: str = "ct") -> dict:
    from monailabel.client import MONAILabelClient

    root = Path(tempfile.mkdtemp(prefix="din_latency_"))
    load_before = os.getloadavg()
    model = "din" if modality == "ct" else "din_stir"
    try:
        if modality == "ct":
            studies = write_studies(root / "datastore")
            for study in studies.values():
                study["spacing_mm"] = list(WHOLE.spacing)
        else:
            studies = write_stir_studies(root / "datastore")
        if untrained or models is None or not (models / model / "weights.pt").exists():
            models, weights = write_untrained_weights(root / "models", model, modality), "untrained (latency only)"
        else:
            weights = str(models / model / "weights.pt")
        (root / "client").mkdir()
        conf = {"models": "din", "model_dir": root / "model", "din_models": models, "din_model": model}
        with start_server(APP_DIR, root / "datastore", conf, root / "server.log",
                          env_extra={"MONAI_LABEL_SESSION_PATH": str(root / "sessions")}, timeout_s=300) as server:
            client = MONAILabelClient(server.url, tmpdir=str(root / "client"))
            results, ratios = [], {}
            for image_id, study in studies.items():
                target = study["gtv"] if modality == "ct" else largest_tumour(study["gtv"])
                sequence = click_sequence(target, clicks, np.random.default_rng(seed))
                sequence = [{k: v for k, v in p.items() if k != "label"} for p in sequence]
                box = tumour_box(target)
                rows = {}
                for mode, use_cache, extra in (("cached", True, {}), ("plain", False, {}),
                                               ("cached_box", True, {"boxes": [box]})):
                    series = [{**p, **extra} for p in sequence]
                    rows[mode] = summary(*time_requests(client, "din", image_id, series, use_cache))
                    results.append({"image": image_id, "shape": study["shape"], "mode": mode,
                                    **({"box": box} if extra else {}), **rows[mode]})
                ratios[image_id] = {
                    "plain_over_cached_p50": round(rows["plain"]["p50_ms"] / rows["cached"]["p50_ms"], 2),
                    "cached_over_box_p50": round(rows["cached"]["p50_ms"] / rows["cached_box"]["p50_ms"], 2),
                }
            memory = peak_rss_mb(server.process.pid)
        return {
            "benchmark": "din_latency",
            "machine": asdict(describe_machine()),
            "weights": weights,
            "modality": modality,
            "clicks_per_series": clicks,
            "studies": {k: {"shape": v["shape"], "spacing_mm": v["spacing_mm"]} for k, v in studies.items()},
            "results": results,
            "ratios": ratios,
            "server": memory,
            "load_average_1_5_15": {"start": [round(v, 2) for v in load_before],
                                    "end": [round(v, 2) for v in os.getloadavg()],
                                    "note": "the 2 cores are shared with other jobs; a load above 2 slows every request"},
            "target": "cached p50 < 1000 ms on the 128 x 128 x 64 region",
            "click_target": "the GTV" if modality == "ct" else "the largest tumour (clicks and box)",
            "region_cached_p50_ms": next(r["p50_ms"] for r in results if r["image"] == "region" and r["mode"] == "cached"),
            "notes": "wall time of each REST request as the client sees it; first = the request that loads "
                     "(cache miss in cached modes); p50/p95/mean over the other requests; server_*: the server's "
                     "own latencies (pre = loading + pre-processing, infer = guides, network and resampling onto "
                     "the image grid, write = the label file), median over the same requests",
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=20, help="requests per study and mode (>= 2)")
    parser.add_argument("--models", type=Path, default=REPO / "models",
                        help="folder with din/weights.pt (din_stir/weights.pt for --modality mri_stir)")
    parser.add_argument("--modality", choices=("ct", "mri_stir"), default="ct",
                        help="ct: the CT studies and models/din; mri_stir: STIR studies and models/din_stir")
    parser.add_argument("--untrained", action="store_true", help="random weights (latency does not depend on them)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the click positions")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.clicks < 2:
        parser.error("--clicks must be at least 2 (the first request of a series is reported apart)")
    return emit(run(args.clicks, args.models, args.untrained, args.seed, args.modality), args.out)


if __name__ == "__main__":
    main()
