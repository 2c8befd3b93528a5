"""Load on the real server: N sessions x M clicks per model through the real monailabel client.

    python -m benchmarks.load --models gaussian_click_2d,din,two_stage --sessions 1,8 --clicks 50 --out build/load.json

Starts ``monailabel start_server`` on 127.0.0.1 (a free port) on a fresh phantom datastore,
downloads every study as Slicer does before its user clicks (``--fetch``, the default: the
server prefetches each one; ``--no-fetch`` clicks on studies it has never seen), then for
each model and each session count runs that many client threads at once, each
clicking M times (foreground clicks inside its own study's GTV, one ``client_id`` per
session) while another thread polls ``/info/``. Every request is bounded (timeout), and so is
the whole run (``--max-s`` per model and session count). JSON on stdout (and ``--out``):
per model and session count the errors, click latency p50/p95/max, throughput (clicks/s),
``/info`` latency under the load, the server's RSS and CPU use (cores busy: the server process,
its child jobs such as scoring, and the client threads of this benchmark, which share the same
cores), plus the
machine, its load average before and after, and the server's torch threads. The
single-session run is the baseline of the same run. Other processes on the machine share
its CPU: the load average says how much.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import nibabel as nib
import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monailabel.client import MONAILabelClient  # noqa: E402

from apps.radiotherapy.launch import APP_DIR, start_server  # noqa: E402
from benchmarks.latency import fetch_like_a_client  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402

#: Server models to load for each click model (two_stage answers on the automatic model's features).
SERVER_MODELS = {"gaussian_click_2d": "gaussian_click", "din": "din", "two_stage": "segmentation,two_stage"}
REQUEST_TIMEOUT_S = 120


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    a = np.asarray(values)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max()), "n": len(values)}


def _process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return [pid] + [p for k in kids for p in _process_tree(k)]


def _rss_mb(pid: int) -> float:
    total = 0
    for p in _process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by the server process and by its child processes
    (MONAI Label's scoring and training jobs) now alive."""
    ticks = os.sysconf("SC_CLK_TCK")
    own, children = 0.0, 0.0
    for p in _process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
        if p == pid:
            own = seconds
        else:
            children += seconds
    return own, children


def _client_cpu_s() -> float:
    usage = os.times()
    return usage.user + usage.system


def _gtv_voxels(studies: Path, image_id: str) -> np.ndarray:
    truth = np.asarray(nib.load(studies / "labels" / "final" / f"{image_id}.nii.gz").dataobj)
    return np.argwhere(truth == 1)


def run_sessions(url: str, model: str, sessions: int, clicks: int, images: list[str], studies: Path,
                 pid: int, max_s: float, scratch: Path) -> dict:
    """``sessions`` clients clicking ``clicks`` times each on ``model`` at once; the numbers."""
    latencies: list[list[float]] = [[] for _ in range(sessions)]
    errors: list[str] = []
    info_latencies: list[float] = []
    done = threading.Event()
    deadline = time.time() + max_s

    def session(n: int) -> None:
        folder = scratch / f"{model}_{sessions}_{n}"
        folder.mkdir(parents=True, exist_ok=True)
        client = MONAILabelClient(url, tmpdir=str(folder), client_id=f"load-{n}")
        image = images[n % len(images)]
        voxels = _gtv_voxels(studies, image)
        rng = np.random.default_rng(n)
        foreground: list[list[int]] = []
        for _ in range(clicks):
            if time.time() > deadline:
                errors.append(f"session {n}: run bound of {max_s} s reached")
                return
            foreground.append([int(v) for v in voxels[rng.integers(len(voxels))]])
            start = time.perf_counter()
            try:
                label, _ = client.infer(model, image, {"foreground": foreground[-3:], "background": []})
                latencies[n].append(time.perf_counter() - start)
                Path(label).unlink(missing_ok=True)
            except Exception as error:  # every failure of a click counts as an error, with its message
                errors.append(f"session {n}: {str(error)[:200]}")

    def poll_info() -> None:
        while not done.is_set():
            start = time.perf_counter()
            try:
                requests.get(f"{url}/info/", timeout=REQUEST_TIMEOUT_S).raise_for_status()
                info_latencies.append(time.perf_counter() - start)
            except Exception as error:  # an /info failure under load is an error too
                errors.append(f"/info: {str(error)[:200]}")
            done.wait(0.2)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
    poller = threading.Thread(target=poll_info)
    (cpu0, kids0), client0, wall0 = _cpu_s(pid), _client_cpu_s(), time.perf_counter()
    poller.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall0
    cpu, kids = (max(0.0, after - before) for after, before in zip(_cpu_s(pid), (cpu0, kids0)))
    client = _client_cpu_s() - client0
    done.set()
    poller.join()
    every = [x for per in latencies for x in per]
    return {
        "sessions": sessions, "clicks_per_session": clicks, "errors": len(errors), "error_messages": errors[:10],
        "click_s": _percentiles(every), "throughput_clicks_per_s": len(every) / wall if wall else None,
        "info_s": _percentiles(info_latencies), "wall_s": wall, "server_cpu_cores_busy": cpu / wall if wall else None,
        "server_children_cpu_cores_busy": kids / wall if wall else None,
        "clients_cpu_cores_busy": client / wall if wall else None,
        "server_rss_mb": _rss_mb(pid), "loadavg_after": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="gaussian_click_2d,din,two_stage", help="click models, comma-separated")
    parser.add_argument("--sessions", default="1,8", help="session counts, comma-separated")
    parser.add_argument("--clicks", type=int, default=50, help="clicks per session")
    parser.add_argument("--workers", type=int, default=2, help="the server's inference workers (--conf infer_workers)")
    parser.add_argument("--max-s", type=float, default=600, help="bound on each model x session-count run, in s")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a further server --conf option (repeatable), e.g. limit_native_threads=false for the "
                        "baseline with numpy's thread pools as they start")
    parser.add_argument("--fetch", action=argparse.BooleanOptionalAction, default=True,
                        help="each session downloads its study first, as Slicer does before its user clicks, and the "
                        "clicks start once the server's prefetch of every study is done (--no-fetch: click on "
                        "studies the server has never seen)")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.conf if "=" in item)
    if len(extra) != len(args.conf):
        parser.error(f"--conf takes KEY=VALUE, got {args.conf}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    counts = [int(n) for n in args.sessions.split(",")]
    unknown = [m for m in models if m not in SERVER_MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {sorted(SERVER_MODELS)}")

    results = {"loadavg_before": os.getloadavg(), "machine": asdict(describe_machine()), "workers": args.workers,
               "fetch": args.fetch, "conf": extra,
               "note": "other processes share this machine's CPU; see loadavg_before / loadavg_after", "models": {}}
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        root = Path(tmp)
        studies = root / "datastore"
        write_datastore(studies, cases=max(counts), first_seed=0)
        images = sorted(p.name[: -len(".nii.gz")] for p in studies.glob("*.nii.gz"))
        server_models = ",".join(dict.fromkeys(",".join(SERVER_MODELS[m] for m in models).split(",")))
        conf = {"models": server_models, "model_dir": root / "model", "infer_workers": args.workers, **extra}
        with start_server(APP_DIR, studies, conf, root / "server.log",
                          env_extra={"MONAI_LABEL_SESSION_PATH": str(root / "sessions")}) as server:
            log = (root / "server.log").read_text()
            threads_line = [line for line in log.splitlines() if "guards installed" in line]
            results["server_threads"] = threads_line[-1].split(" - ", 1)[-1] if threads_line else None
            if args.fetch:
                results["fetched_s"] = {image: fetch_like_a_client(server, image) for image in images}
            for model in models:
                MONAILabelClient(server.url, tmpdir=str(root)).infer(
                    model, images[0], {"foreground": [[int(v) for v in _gtv_voxels(studies, images[0])[0]]]})  # warm
                results["models"][model] = [
                    run_sessions(server.url, model, n, args.clicks, images, studies, server.process.pid, args.max_s,
                                 root / "clients")
                    for n in counts
                ]
    results["loadavg_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return results


if __name__ == "__main__":
    main()
