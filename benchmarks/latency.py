"""Per-click (per-edit) latency of any click or edit task through the REST API, as a user sees it.

    python -m benchmarks.latency --task gaussian_click_2d --clicks 8
    python -m benchmarks.latency --task din --modality mri_stir --clicks 8 --out results/din_stir/latency.json
    python -m benchmarks.latency --task two_stage --modality petct --clicks 8
    python -m benchmarks.latency --task slice_propagation --clicks 6
    python -m benchmarks.latency --task din --warmup both --clicks 6           # first request, warm-up off / on
    python -m benchmarks.latency --task gaussian_click_3d --untrained --clicks 4 \
        --sizes 64x64x32,128x128x64,256x256x96,512x512x160                   # the scaling series

Tasks (the infer tasks of ``/info``): ``gaussian_click_2d``, ``gaussian_click_3d``, ``din``,
``two_stage``, ``universal_click`` (shipped weights only), ``slice_propagation``. A real MONAI
Label server (``apps/radiotherapy/launch.py``) serves only that task's config on generated studies:

- default: ``region``, a 128 x 128 x 64 voxel crop around a tumour, and ``whole``, the 224 x
  192 x 80 phantom it was cut from (1.5 x 1.5 x 3 mm; with ``--modality petct`` CT and PET
  channels; with ``--modality mri_stir`` the whole STIR phantom, 144 x 112 x 32 at 2.4 x 2.4
  x 7.5 mm, and a 128 x 128 x 64 STIR study);
- ``--sizes``: the scaling series, one study per size (i x j x k voxels at ``--spacing``,
  default 0.98 x 0.98 x 3 mm, a clinical CT's): crops centred on the tumour of one 512 x 512 x
  160-sized phantom (generated coarse, linearly resampled, stored as int16 HU). Cached mode only;
  the baseline is the smallest size (``p50_over_smallest``).

Each request sends all clicks so far (one slice, as Slicer's SmartEdit does): two foreground
clicks inside the tumour, then a background one within 15 mm of it (``--background anywhere``:
anywhere outside it on the slice, the design of the earlier results); the time is the
client's wall time of the whole request (params up, inference, writing and downloading the
label). Modes, in the same run on the same server: ``cached`` (the session cache) and the
baseline ``plain`` (``"use_cache": false``: load and pre-process on every request, stock MONAI
Label; slice propagation has no such flag, so there each request goes to a fresh copy of the
study); click tasks also ``drag`` (the newest click moved one voxel per request), DIN also
``cached_box`` (the tumour's box in the request); 2S-ICR starts each session with a 0-click
request (stage 1). Slice propagation: the automatic model's answer, then the tumour's slices
redrawn as the truth one after another (every edit so far in each request).

Reported per study and mode: the first request, then p50 / p95 / mean of the rest (ms), the
answer's own split beside it (``stage_<prepare|network|post|write|total>_ms_p50``: medians of
each answer's ``stages_ms``; ``network`` is the forward passes alone) and ``rest_over_network``
(the REST p50 over the network pass's median: the 1.3x target), MONAI Label's latencies, ratios
to ``cached``; the first request the server
ever answered (``server_first_request_ms``) against the p50 of its series; the server's peak
memory; the machine (:mod:`lib.machine`), torch threads and the load average before and after:
the machine is shared, a load above its cores slows every request. ``--warmup both`` runs it all
on two servers, warm-up off and on (``apps/radiotherapy/warmup.py``; the run waits for the
``warm-up done`` log line before the first request). ``--untrained``: random weights (latency
does not depend on their values; slice propagation always serves the shipped automatic model).
JSON on stdout (and in ``--out``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy.ndimage import distance_transform_edt

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from apps.radiotherapy.guards.concurrency import torch_threads_per_worker  # noqa: E402
from apps.radiotherapy.launch import APP_DIR, RunningServer, start_server  # noqa: E402
from benchmarks.report import emit  # noqa: E402
from lib.labels import LABELS  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.phantom import PhantomConfig, generate_phantom  # noqa: E402
from lib.phantom.config import LABELS as PHANTOM_LABELS  # noqa: E402
from lib.phantom.io import save_nifti_atomic  # noqa: E402

TASKS = ("gaussian_click_2d", "gaussian_click_3d", "din", "two_stage", "universal_click", "slice_propagation")
#: The answer's own split (``stages_ms``, infers/answer.py): consecutive parts of the server's total.
STAGES = ("prepare", "network", "post", "write", "total")
#: task -> modalities it serves (the first is the default).
MODALITIES = {"gaussian_click_2d": ("ct",), "gaussian_click_3d": ("ct",), "din": ("ct", "mri_stir"),
              "two_stage": ("ct", "petct"), "universal_click": ("ct",), "slice_propagation": ("ct",)}
WHOLE = PhantomConfig(seed=901, shape=(224, 192, 80), spacing=(1.5, 1.5, 3.0))
REGION_SHAPE = (128, 128, 64)
STIR_SEED = 901
BOX_MARGIN = (10, 10, 3)
#: Background clicks of the click series: outside the tumour, at most this far from it (mm).
BACKGROUND_RING_MM = 15.0
SCALING_LARGEST = (512, 512, 160)
SCALING_COARSE = 4  # the series' phantom is generated at 1/4 of the largest size, then resampled
WARMUP_WAIT_S = 300


@dataclass
class Study:
    """One generated study in the datastore: its id, shape (i, j, k voxels), spacing (mm) and GTV mask."""

    image_id: str
    shape: list[int]
    spacing_mm: list[float]
    gtv: np.ndarray

    def describe(self) -> dict:
        return {"shape": self.shape, "spacing_mm": [round(s, 3) for s in self.spacing_mm]}


def crop_box(centre: Sequence[int], size: Sequence[int], shape: Sequence[int]) -> tuple[slice, ...]:
    """A box of ``size`` voxels centred on ``centre`` (i, j, k), moved inside an image of ``shape``."""
    start = [int(np.clip(c - n // 2, 0, s - n)) for c, n, s in zip(centre, size, shape)]
    return tuple(slice(a, a + n) for a, n in zip(start, size))


def write_crop(image: np.ndarray, affine: np.ndarray, box: tuple[slice, ...], path: Path) -> None:
    """Save ``image[box]`` (X, Y, Z[, C]) with the affine moved to the box's first voxel."""
    shift = np.eye(4)
    shift[:3, 3] = [b.start for b in box]
    save_nifti_atomic(image[box], affine @ shift, path)


def ct_studies(folder: Path, pet: bool = False) -> list[Study]:
    """``region`` (128 x 128 x 64 around the tumour) and ``whole`` (224 x 192 x 80); with ``pet``
    the files hold CT and PET as (X, Y, Z, 2), as the phantom datastore writes them."""
    phantom = generate_phantom(replace(WHOLE, pet=pet))
    gtv = phantom.label == PHANTOM_LABELS["gtv"]
    box = crop_box(np.argwhere(gtv).mean(axis=0).round().astype(int), REGION_SHAPE, gtv.shape)
    image = phantom.image[0] if not pet else np.moveaxis(phantom.image, 0, -1)
    write_crop(image, phantom.affine, box, folder / "region.nii.gz")
    save_nifti_atomic(image, phantom.affine, folder / "whole.nii.gz")
    spacing = list(WHOLE.spacing)
    return [Study("region", list(REGION_SHAPE), spacing, gtv[box]), Study("whole", list(gtv.shape), spacing, gtv)]


def stir_studies(folder: Path) -> list[Study]:
    """A 128 x 128 x 64 STIR study and the whole STIR phantom (2.4 x 2.4 x 7.5 mm); GTV = the largest tumour."""
    import cc3d

    from lib.phantom.config import stir_config
    from lib.phantom.io import save_phantom

    studies = []
    for name, shape in (("region", REGION_SHAPE), ("whole", None)):
        config = stir_config(seed=STIR_SEED, **({"shape": shape} if shape else {}))
        phantom = generate_phantom(config)
        save_phantom(phantom, folder / f"{name}.nii.gz")
        components = cc3d.connected_components(phantom.label == PHANTOM_LABELS["gtv"], connectivity=26)
        largest = components == int(np.argmax(np.bincount(components.ravel())[1:])) + 1
        studies.append(Study(name, list(config.shape), list(config.spacing), largest))
    return studies


def scaling_studies(folder: Path, sizes: Sequence[tuple[int, int, int]], spacing: Sequence[float]) -> list[Study]:
    """One study per size: crops around the tumour of a :data:`SCALING_LARGEST` phantom at ``spacing``."""
    from scipy.ndimage import zoom

    largest = [max(s[a] for s in [SCALING_LARGEST, *sizes]) for a in range(3)]
    coarse = tuple(max(8, -(-n // SCALING_COARSE)) for n in largest)
    config = PhantomConfig(seed=WHOLE.seed, shape=coarse,
                           spacing=tuple(s * n / c for s, n, c in zip(spacing, largest, coarse)))
    phantom = generate_phantom(config)
    factors = [n / c for n, c in zip(largest, coarse)]
    image = zoom(phantom.image[0], factors, order=1).astype(np.int16)
    gtv = zoom((phantom.label == PHANTOM_LABELS["gtv"]).astype(np.uint8), factors, order=0).astype(bool)
    affine = phantom.affine.copy()
    affine[:3, :3] = affine[:3, :3] / np.asarray(factors)  # same origin, finer voxels
    centre = np.argwhere(gtv).mean(axis=0).round().astype(int)
    studies = []
    for size in sizes:
        box = crop_box(centre, size, gtv.shape)
        name = "x".join(map(str, size))
        write_crop(image, affine, box, folder / f"{name}.nii.gz")
        studies.append(Study(name, list(size), list(spacing), gtv[box]))
    return studies


def click_sequence(gtv: np.ndarray, count: int, rng: np.random.Generator,
                   spacing_mm: Sequence[float] = (1.0, 1.0), ring_mm: float | None = BACKGROUND_RING_MM) -> list[dict]:
    """Params after 1..count clicks on the tumour's middle slice (k): two inside, then one outside, ...

    A background click lands where a user corrects a leak: outside the tumour, within ``ring_mm``
    of it on that slice (``spacing_mm``: the slice's (i, j) voxel size); ``ring_mm`` None: anywhere
    on the slice (the design before 2026-12-03, whose far clicks stretch every click window).
    """
    k = int(np.argwhere(gtv)[:, 2].mean().round())
    plane = gtv[:, :, k]
    near = ~plane
    if ring_mm is not None:
        near &= distance_transform_edt(~plane, sampling=spacing_mm[:2]) <= ring_mm
    inside, outside = np.argwhere(plane), np.argwhere(near)
    foreground, background, params = [], [], []
    for n in range(count):
        points, clicks = (outside, background) if n % 3 == 2 else (inside, foreground)
        i, j = points[rng.integers(len(points))]
        clicks.append([int(i), int(j), k])
        params.append({"label": "gtv", "foreground": list(foreground), "background": list(background)})
    return params


def drag_sequence(clicks: list[dict], count: int, shape: Sequence[int]) -> list[dict]:
    """``count`` params that move the newest foreground click of ``clicks[-1]`` one voxel along i each."""
    last = clicks[-1]
    i, j, k = last["foreground"][-1]
    step = -1 if i + count >= shape[0] else 1
    return [{**last, "foreground": [*last["foreground"][:-1], [i + step * (n + 1), j, k]]} for n in range(count)]


def tumour_box(gtv: np.ndarray, margin: Sequence[int] = BOX_MARGIN) -> list[list[int]]:
    """The GTV's bounding box grown by ``margin`` voxels (i, j, k), clipped: two inclusive corners."""
    points = np.argwhere(gtv)
    low = np.maximum(points.min(axis=0) - np.asarray(margin), 0)
    high = np.minimum(points.max(axis=0) + np.asarray(margin), np.asarray(gtv.shape) - 1)
    return [[int(v) for v in low], [int(v) for v in high]]


def edit_sequence(client, study: Study, count: int, folder: Path) -> list[dict]:
    """Slice-edit params after 1..count edits: the automatic model's answer with the tumour's slices
    (middle outwards) redrawn as the truth; each label is written to ``folder`` as ``label_in``."""
    import nibabel as nib

    answer, _ = client.infer("segmentation", study.image_id, {})
    loaded = nib.load(answer)
    label = np.asarray(loaded.dataobj).astype(np.uint8)
    os.unlink(answer)
    z = np.flatnonzero(study.gtv.any(axis=(0, 1)))
    order = sorted(z, key=lambda s: (abs(s - int(z.mean())), s))[:count]
    params = []
    for n, k in enumerate(order):
        plane = label[..., k]
        plane[plane == LABELS["gtv"]] = 0
        plane[study.gtv[..., k]] = LABELS["gtv"]
        path = folder / f"{study.image_id}_edit{n}.nii.gz"
        save_nifti_atomic(label.copy(), loaded.affine, path)
        params.append({"slices": [int(s) for s in order[: n + 1]], "axis": 2, "label_in": str(path)})
    return params


def time_requests(client, task: str, requests: list[tuple[str, dict]], use_cache: bool) -> tuple[list, list]:
    """Wall time (ms) and the server's latencies (s) of each (image id, params) request; answers deleted."""
    times, server = [], []
    for image_id, params in requests:
        params = dict(params)
        label_in = params.pop("label_in", None)
        start = time.perf_counter()
        answer, result = client.infer(task, image_id, {**params, "use_cache": use_cache}, label_in=label_in)
        times.append((time.perf_counter() - start) * 1000)
        server.append({**result.get("latencies", {}), "stages_ms": result.get("stages_ms", {})})
        os.unlink(answer)
    return times, server


def summary(times: list[float], server: list[dict], skip: int = 1) -> dict:
    """The first ``skip`` requests apart, then p50 / p95 / mean of the rest (ms); the server's median split."""
    rest, rest_server = (times[skip:], server[skip:]) if len(times) > skip else (times, server)
    split = {f"server_{stage}_ms_p50": round(1000 * float(np.median([s.get(stage, np.nan) for s in rest_server])), 1)
             for stage in ("pre", "infer", "write", "total")}
    stages = {f"stage_{stage}_ms_p50": round(float(np.median([s["stages_ms"].get(stage, np.nan) for s in rest_server])), 1)
              for stage in STAGES}
    network = stages["stage_network_ms_p50"]
    first = {"zero_click_ms": round(times[0], 1), "first_click_ms": round(times[1], 1)} if skip == 2 else \
        {"first_ms": round(times[0], 1)}
    return {**first, "p50_ms": round(float(np.percentile(rest, 50)), 1),
            "p95_ms": round(float(np.percentile(rest, 95)), 1), "mean_ms": round(float(np.mean(rest)), 1),
            "requests": len(times), **stages,
            "rest_over_network": round(float(np.percentile(rest, 50)) / network, 2) if network > 0 else None, **split}


def series_for(task: str, study: Study, clicks: int, seed: int, scaling: bool, client, folder: Path,
               copies: int, background: str = "near") -> dict[str, tuple[list[tuple[str, dict]], bool]]:
    """Mode -> (requests as (image id, params), use_cache) for one study."""
    one = study.image_id
    if task == "slice_propagation":
        edits = edit_sequence(client, study, clicks, folder)
        series = {"cached": ([(one, p) for p in edits], True)}
        if not scaling:  # the task has no use_cache flag: a fresh copy of the study per request
            series["plain"] = ([(f"{one}_copy{n}", p) for n, p in enumerate(edits[:copies])], True)
        return series
    ring = None if background == "anywhere" else BACKGROUND_RING_MM
    clicks_ = click_sequence(study.gtv, clicks, np.random.default_rng(seed), study.spacing_mm, ring)
    if task == "din":
        clicks_ = [{k: v for k, v in p.items() if k != "label"} for p in clicks_]
    if task == "two_stage":
        clicks_ = [{"label": "gtv", "foreground": [], "background": []}, *clicks_]
    series = {"cached": ([(one, p) for p in clicks_], True)}
    if scaling:
        return series
    series["plain"] = ([(one, p) for p in clicks_], False)
    if task.startswith("gaussian_click") or task == "universal_click":
        series["drag"] = ([(one, p) for p in [clicks_[-1], *drag_sequence(clicks_, clicks, study.shape)]], True)
    if task == "din":
        box = tumour_box(study.gtv)
        series["cached_box"] = ([(one, {**p, "boxes": [box]}) for p in clicks_], True)
    return series


def untrained_weights(task: str, modality: str, folder: Path) -> dict[str, object]:
    """Random-init weights in the layout the task's config reads; the ``--conf`` options pointing at them."""
    import torch

    if task.startswith("gaussian_click"):
        from lib.gaussian_click.network import gaussian_click_net

        for d in (2, 3):
            (folder / f"gaussian_click_{d}d").mkdir(parents=True, exist_ok=True)
            torch.save({"model": gaussian_click_net(d).state_dict()}, folder / f"gaussian_click_{d}d" / "weights.pt")
        return {"gaussian_click_models": folder}
    if task == "din":
        from lib.din.network import CPU_WIDTHS, din_network

        model = "din" if modality == "ct" else "din_stir"
        (folder / model).mkdir(parents=True, exist_ok=True)
        torch.save({"model": din_network().state_dict(), "widths": list(CPU_WIDTHS), "deep_guides": True,
                    "guide": "exp", "sigma": [5.0, 5.0, 1.0], "gamma": 1.0, "modality": modality},
                   folder / model / "weights.pt")
        return {"din_models": folder}
    if task == "two_stage" and modality == "ct":
        from lib.two_stage.network import CPU_CHANNELS, refinement_unet

        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"model": refinement_unet(1).state_dict(), "image_channels": 1, "channels": list(CPU_CHANNELS)},
                   folder / "refinement.pt")
        return {"two_stage_refinement": folder / "refinement.pt"}
    raise SystemExit(f"--untrained is not offered for {task} ({modality}): it serves the shipped weights")


def server_conf(task: str, modality: str, root: Path, warmup: bool) -> dict[str, object]:
    """``--conf`` options serving only ``task``'s config."""
    conf: dict[str, object] = {"model_dir": root / "model", "warmup": str(warmup).lower()}
    if task.startswith("gaussian_click"):
        conf["models"] = "gaussian_click"
    elif task == "din":
        conf.update(models="din", din_model="din" if modality == "ct" else "din_stir")
    elif task == "two_stage":
        conf.update(models="two_stage", two_stage_modality=modality)
    elif task == "universal_click":
        conf["models"] = "universal_click"
    else:
        conf["models"] = "segmentation,slice_propagation"
    return conf


def wait_for_warmup(server: RunningServer, timeout_s: float = WARMUP_WAIT_S) -> float:
    """Seconds until the server's log says ``warm-up done`` (RuntimeError after ``timeout_s``)."""
    start = time.perf_counter()
    while "warm-up done" not in server.log_tail(1_000_000):
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"no 'warm-up done' in {timeout_s} s:\n{server.log_tail()}")
        time.sleep(0.5)
    return round(time.perf_counter() - start, 1)


def fetch_like_a_client(server: RunningServer, image_id: str, timeout_s: float = WARMUP_WAIT_S) -> float:
    """Download the study as Slicer does before its user clicks, then wait until the server's log
    says the prefetch of it is done (``apps/radiotherapy/prefetch.py``); the seconds waited."""
    import urllib.parse
    import urllib.request

    start = time.perf_counter()
    query = urllib.parse.urlencode({"image": image_id})
    with urllib.request.urlopen(f"{server.url}/datastore/image?{query}", timeout=120) as response:
        response.read()
    while f"prefetch (download): {image_id}:" not in server.log_tail(1_000_000):
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"no prefetch of {image_id} in {timeout_s} s:\n{server.log_tail()}")
        time.sleep(0.1)
    return round(time.perf_counter() - start, 2)


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


def serve_once(task: str, studies: list[Study], conf: dict, root: Path, args, warmup: bool, start: int = 0) -> dict:
    """Start a server (the ``start``-th fresh one of this setting), run every study's series, stop it;
    results of this server."""
    from monailabel.client import MONAILabelClient

    tag = f"warmup_{'on' if warmup else 'off'}" + (f"_{start}" if start else "")
    client_dir, edits = root / f"client_{tag}", root / f"edits_{tag}"
    client_dir.mkdir()
    edits.mkdir()
    env = {"MONAI_LABEL_SESSION_PATH": str(root / f"sessions_{tag}"),
           **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})}
    with start_server(APP_DIR, root / "datastore", {**conf, "warmup": str(warmup).lower()}, root / f"{tag}.log",
                      env_extra=env, timeout_s=300) as server:
        client = MONAILabelClient(server.url, tmpdir=str(client_dir), client_id=f"bench_{tag}")
        if task not in client.info()["models"]:
            raise SystemExit(f"the server offers no '{task}'; see {server.log_path}")
        waited = wait_for_warmup(server) if warmup else None
        warmup_log = [line.split("warm-up", 1)[1].strip(" :") for line in server.log_tail(1_000_000).splitlines()
                      if "warm-up" in line]
        results, first = [], None
        fetched: dict[str, float] = {}
        for study in studies:
            if args.fetch:
                fetched[study.image_id] = fetch_like_a_client(server, study.image_id)
            series = series_for(task, study, args.clicks, args.seed, bool(args.sizes), client, edits, args.clicks,
                                args.background)
            rows: dict[str, dict] = {}
            for mode, (requests, use_cache) in series.items():
                # 2S-ICR keeps one last answer per client: one client per mode
                user = MONAILabelClient(server.url, tmpdir=str(client_dir), client_id=f"bench_{tag}_{mode}")
                times, split = time_requests(user, task, requests, use_cache)
                if first is None:
                    first = {"study": study.image_id, "mode": mode, "ms": round(times[0], 1)}
                rows[mode] = {"image": study.image_id, **study.describe(), "mode": mode,
                              **summary(times, split, 2 if task == "two_stage" else 1)}
            for row in rows.values():
                row["p50_over_cached"] = round(row["p50_ms"] / rows["cached"]["p50_ms"], 2)
                results.append(row)
        first_series = next(r for r in results if r["image"] == first["study"] and r["mode"] == first["mode"])
        return {"warmup": warmup, "warmup_wait_s": waited, "warmup_log": warmup_log, "fetched_s": fetched,
                "server_first_request_ms": first["ms"], "server_first_request": f"{first['study']}/{first['mode']}",
                "server_first_over_p50": round(first["ms"] / first_series["p50_ms"], 2),
                "results": results, "server": peak_rss_mb(server.process.pid)}


def run(args) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="latency_"))
    load_before = [round(v, 2) for v in os.getloadavg()]
    try:
        datastore = root / "datastore"
        datastore.mkdir()
        if args.sizes:
            studies = scaling_studies(datastore, args.sizes, args.spacing)
        elif args.modality == "mri_stir":
            studies = stir_studies(datastore)
        else:
            studies = ct_studies(datastore, pet=args.modality == "petct")
        if args.task == "slice_propagation" and not args.sizes:
            for study in studies:
                for n in range(args.clicks):
                    shutil.copy(datastore / f"{study.image_id}.nii.gz", datastore / f"{study.image_id}_copy{n}.nii.gz")
        conf = server_conf(args.task, args.modality, root, False)
        if args.workers:
            conf["infer_workers"] = args.workers
        if args.precision:
            conf["precision"] = args.precision
        weights = "shipped (models/)"
        if args.untrained:
            conf.update(untrained_weights(args.task, args.modality, root / "weights"))
            weights = "untrained (latency only)"
        settings = {"off": [False], "on": [True], "both": [False, True]}[args.warmup]
        runs = [serve_once(args.task, studies, conf, root, args, warmup, n)
                for warmup in settings for n in range(args.starts)]
        if args.sizes:
            for one in runs:
                smallest = one["results"][0]["p50_ms"]
                for row in one["results"]:
                    row["p50_over_smallest"] = round(row["p50_ms"] / smallest, 2)
        return {
            "benchmark": "latency",
            "task": args.task,
            "modality": args.modality,
            "weights": weights,
            "clicks_per_series": args.clicks,
            "precision": args.precision or "each task's default (/info: precision)",
            "background_clicks": "within 15 mm of the tumour" if args.background == "near" else "anywhere on the slice",
            "machine": asdict(describe_machine()),
            "infer_workers": args.workers or "the server's default (2)",
            "torch_threads_server": torch_threads_per_worker(args.workers or 2),
            "torch_threads_note": "per request: the server sets cores // infer_workers (guards), whatever --threads",
            "load_average_1_5_15": {"start": load_before, "end": [round(v, 2) for v in os.getloadavg()],
                                    "note": f"{os.cpu_count()} cores shared with other jobs; a load above "
                                            "the cores slows every request"},
            "studies": {s.image_id: s.describe() for s in studies},
            "starts": args.starts,
            "first_request_over_p50": {
                f"warmup_{'on' if warmup else 'off'}": first_over_p50([r for r in runs if r["warmup"] == warmup])
                for warmup in settings},
            "runs": runs,
            "notes": "wall time of each REST request as the client sees it; first = the series' first request "
                     "(the cache miss in cached modes; 2S-ICR: zero_click = stage 1, first_click = the first "
                     "refinement); p50/p95/mean over the rest; stage_*: medians of the answer's stages_ms "
                     "(prepare = request and image, network = forward passes, post = the rest of the inference, "
                     "write = the label file, total = the server's call); rest_over_network = p50_ms over "
                     "stage_network_ms_p50; server_*: MONAI Label's own latencies (pre = "
                     "loading + pre-processing, infer = the task's inference, write = the label file), median; "
                     "server_first_request_ms: the first request this server answered",
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def first_over_p50(runs: Sequence[dict]) -> dict:
    """The first request each fresh server answered over the p50 of its series: median, range, all."""
    ratios = [r["server_first_over_p50"] for r in runs]
    return {"median": round(float(np.median(ratios)), 2), "min": min(ratios), "max": max(ratios), "all": ratios}


def parse_size(text: str) -> tuple[int, int, int]:
    """``"512x512x160"`` -> (512, 512, 160)."""
    try:
        size = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 8 or any(s > m for s, m in zip(size, SCALING_LARGEST)):
        raise argparse.ArgumentTypeError(f"a size is I x J x K voxels, 8..{SCALING_LARGEST}, got {text!r}")
    return size


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=TASKS, help="the infer task to time")
    p.add_argument("--clicks", type=int, default=8, help="requests (clicks, edits) per study and mode (>= 3)")
    p.add_argument("--modality", default=None, help="ct; din: mri_stir; two_stage: petct")
    p.add_argument("--sizes", type=lambda t: [parse_size(s) for s in t.split(",")], default=None,
                   help="the scaling series, e.g. 64x64x32,128x128x64,256x256x96,512x512x160")
    p.add_argument("--spacing", type=lambda t: [float(v) for v in t.split("x")], default=[0.98, 0.98, 3.0],
                   help="voxel size (mm) of the scaling series, i x j x k")
    p.add_argument("--warmup", choices=("on", "off", "both"), default="on", help="the server's warm-up at start")
    p.add_argument("--fetch", action=argparse.BooleanOptionalAction, default=True,
                   help="download each study before its first click, as Slicer does, and wait for the server's "
                        "prefetch of it (--no-fetch: click on a study the server has not prepared)")
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the server process")
    p.add_argument("--workers", type=int, default=None,
                   help="the server's inference workers (--conf infer_workers; default 2); each request gets "
                        "cores // workers torch threads: 1 for one user on all cores")
    p.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default=None,
                   help="--conf precision of the server: every click task's forward passes (default: each task's own)")
    p.add_argument("--untrained", action="store_true", help="random weights (latency does not depend on them)")
    p.add_argument("--seed", type=int, default=0, help="seed of the click positions")
    p.add_argument("--background", choices=("near", "anywhere"), default="near",
                   help="background clicks within 15 mm of the tumour (a user's correction) or anywhere on the slice")
    p.add_argument("--starts", type=int, default=1,
                   help="fresh servers per warm-up setting: the first request after start is one sample per "
                        "server (first_request_over_p50 gives their median and range)")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    p = parser()
    args = p.parse_args(argv)
    args.modality = args.modality or MODALITIES[args.task][0]
    if args.modality not in MODALITIES[args.task]:
        p.error(f"--modality for {args.task} is one of {MODALITIES[args.task]}, got {args.modality!r}")
    if args.clicks < 3:
        p.error("--clicks must be at least 3 (the first requests of a series are reported apart)")
    if args.starts < 1:
        p.error("--starts must be at least 1")
    if args.sizes and args.modality != "ct":
        p.error("--sizes is a CT series: leave --modality out")
    return emit(run(args), args.out)


if __name__ == "__main__":
    main()
