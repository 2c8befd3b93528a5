"""Click latency while the ``uncertainty`` scoring job runs, against the same clicks without it.

    python -m benchmarks.scoring_interference --models gaussian_click_2d --cases 16 --clicks 40 \
        --out results/active_learning/scoring_interference.json

The issue's target: a click request is not slowed by more than 20 % while scoring runs.
Starts ``monailabel start_server`` on 127.0.0.1 (a free port) on a fresh phantom datastore:
one labelled study (the clicks' image: foreground clicks inside its GTV, the last three sent,
as in :mod:`benchmarks.load`) and ``--cases`` unlabelled ones (what the scoring job scores),
serving the click model and ``segmentation``. After the warm-up (the ``warm-up done`` log line
and ``--warm`` clicks) one client, one click at a time:

1. ``baseline``: ``--clicks`` clicks with no scoring running;
2. ``during_scoring``: ``POST /scoring/uncertainty`` (MONAI Label's scoring process, async), then
   clicks until ``--clicks`` of them started *and* ended inside the window in which a poller of
   ``GET /scoring/`` (every ``--poll-s``) saw the job ``RUNNING``, or until the job ends; only
   those count (``counted``; the others are reported as ``outside_window``);
3. the job is waited for (bounded by ``--max-s``, then stopped with ``DELETE /scoring/``).

JSON on stdout (and ``--out``): p50 / p95 / max of both series (s), their ratios
(``slowdown``: during / baseline; the target is p50 and p95 <= 1.2), the job's observed
duration (its window), its own scoring loop time and images scored (its ``Result`` line),
the per-image scoring time stored in each record (``seconds``), the scoring process's
niceness and threads as seen in ``/proc``, the machine, the server's torch threads and the
load average before and after. Other processes on the machine share its CPU: the load
average says how much; a run with a load above the cores is not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monailabel.client import MONAILabelClient  # noqa: E402

from apps.radiotherapy.launch import APP_DIR, start_server  # noqa: E402
from benchmarks.latency import wait_for_warmup  # noqa: E402
from benchmarks.load import REQUEST_TIMEOUT_S, SERVER_MODELS, _gtv_voxels, _percentiles  # noqa: E402
from benchmarks.report import emit  # noqa: E402
from lib.machine import describe_machine  # noqa: E402
from lib.phantom.datastore import write_datastore  # noqa: E402

SCORING = "uncertainty"
#: The issue's bound: a click is slowed by at most this factor while scoring runs.
TARGET_SLOWDOWN = 1.2


@dataclass(frozen=True)
class Click:
    """One click request: monotonic start and end (s) and whether it succeeded."""

    start: float
    end: float
    ok: bool = True

    @property
    def seconds(self) -> float:
        return self.end - self.start


def running_window(polls: Sequence[tuple[float, str | None]]) -> tuple[float, float] | None:
    """(first, last) poll time at which the job was seen ``RUNNING``; None if it never was.

    Args:
        polls: (monotonic time, status or None) in poll order.
    """
    times = [t for t, status in polls if status == "RUNNING"]
    return (times[0], times[-1]) if times else None


def inside(clicks: Sequence[Click], window: tuple[float, float] | None) -> list[Click]:
    """The successful clicks that started and ended inside ``window`` (inclusive)."""
    if window is None:
        return []
    lo, hi = window
    return [c for c in clicks if c.ok and lo <= c.start and c.end <= hi]


def slowdown(baseline: Sequence[float], during: Sequence[float]) -> dict[str, float | None]:
    """p50 and p95 of ``during`` over those of ``baseline`` (None where a series is empty)."""
    if not baseline or not during:
        return {"p50": None, "p95": None}
    return {q: float(np.percentile(during, p) / np.percentile(baseline, p)) for q, p in (("p50", 50), ("p95", 95))}


def _result_line(details: Sequence[str]) -> dict | None:
    """The scoring process's ``Result: {...}`` log line (MONAI Label's task details), parsed."""
    for line in reversed(list(details or [])):
        if "Result: " in line:
            try:
                return json.loads(line.split("Result: ", 1)[1])
            except ValueError:
                return None
    return None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (by parent pid: MONAI Label starts its task processes from a
    worker thread, which ``/proc/<pid>/task/<pid>/children`` does not list)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def _task_processes(server_pid: int) -> list[dict]:
    """MONAI Label task processes under the server: pid, niceness, threads."""
    found = []
    for pid in _descendants(server_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "monailabel.interfaces.utils.app" not in cmdline:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found.append({"pid": pid, "nice": int(fields[16]), "threads": int(fields[17])})
        except OSError:
            continue
    return found


class Clicker:
    """One client clicking ``model`` on ``image`` (foreground clicks inside its GTV, the last three sent)."""

    def __init__(self, url: str, model: str, image: str, voxels: np.ndarray, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.client = MONAILabelClient(url, tmpdir=str(folder), client_id="scoring-interference")
        self.model, self.image, self.voxels = model, image, voxels
        self.rng = np.random.default_rng(0)
        self.foreground: list[list[int]] = []
        self.errors: list[str] = []

    def click(self) -> Click:
        self.foreground.append([int(v) for v in self.voxels[self.rng.integers(len(self.voxels))]])
        start = time.monotonic()
        try:
            label, _ = self.client.infer(self.model, self.image, {"foreground": self.foreground[-3:], "background": []})
            Path(label).unlink(missing_ok=True)
            return Click(start, time.monotonic())
        except Exception as error:  # a failed click is reported, not timed
            self.errors.append(str(error)[:200])
            return Click(start, time.monotonic(), ok=False)


class ScoringPoller:
    """Polls ``GET /scoring/`` every ``period_s`` in a thread: (time, status) and the last answer."""

    def __init__(self, url: str, server_pid: int, period_s: float) -> None:
        self.url, self.server_pid, self.period_s = url, server_pid, period_s
        self.polls: list[tuple[float, str | None]] = []
        self.last: dict = {}
        self.processes: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = requests.get(f"{self.url}/scoring/", timeout=REQUEST_TIMEOUT_S)
                status = answer.json() if answer.status_code == 200 else {}
            except (requests.RequestException, ValueError):
                status = {}
            self.last = status or self.last
            self.polls.append((time.monotonic(), status.get("status")))
            for process in _task_processes(self.server_pid):
                self.processes[process["pid"]] = process  # the latest view of each
            self._stop.wait(self.period_s)

    def start(self) -> ScoringPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def finished(self) -> bool:
        """The job was seen running and is not any more."""
        return running_window(self.polls) is not None and bool(self.polls) and self.polls[-1][1] != "RUNNING"


def _series(clicks: Sequence[Click]) -> dict:
    return _percentiles([c.seconds for c in clicks if c.ok])


def _per_image_seconds(client: MONAILabelClient, images: Sequence[str]) -> dict:
    """The ``seconds`` of each scored image's stored record (the scoring of that image alone)."""
    objects = client.datastore().get("objects", {})
    seconds = [
        float(record["seconds"]) for image in images
        if (record := (objects.get(image, {}).get("image", {}).get("info", {}).get(SCORING) or {}).get("segmentation"))
    ]
    return {"n": len(seconds), "median_s": float(np.median(seconds)) if seconds else None,
            "mean_s": float(np.mean(seconds)) if seconds else None, "max_s": max(seconds) if seconds else None}


def measure(url: str, server_pid: int, clicker: Clicker, clicks: int, scoring_params: dict, poll_s: float,
            max_s: float) -> dict:
    """Baseline clicks, then clicks during one scoring job; the numbers (see the module doc)."""
    baseline = [clicker.click() for _ in range(clicks)]
    poller = ScoringPoller(url, server_pid, poll_s).start()
    deadline = time.monotonic() + max_s
    started = requests.post(f"{url}/scoring/{SCORING}", json=scoring_params, timeout=REQUEST_TIMEOUT_S)
    started.raise_for_status()
    during: list[Click] = []
    while time.monotonic() < deadline and not poller.finished():
        during.append(clicker.click())
        if len(inside(during, running_window(poller.polls))) >= clicks:
            break
    while time.monotonic() < deadline and not poller.finished():
        time.sleep(poll_s)
    stopped = not poller.finished()
    if stopped:  # bounded: the job is stopped, its numbers are partial
        requests.delete(f"{url}/scoring/", timeout=REQUEST_TIMEOUT_S)
    poller.stop()
    window = running_window(poller.polls)
    counted = inside(during, window)
    result = _result_line(poller.last.get("details") or []) or {}
    scored = list(result.get("scored") or {})
    base_p, during_p = _series(baseline), _series(counted)
    ratio = slowdown([c.seconds for c in baseline if c.ok], [c.seconds for c in counted])
    return {
        "baseline": base_p,
        "during_scoring": {**during_p, "counted": len(counted), "outside_window": len(during) - len(counted)},
        "slowdown": ratio,
        "within_target": None if ratio["p95"] is None
        else bool(ratio["p50"] <= TARGET_SLOWDOWN and ratio["p95"] <= TARGET_SLOWDOWN),
        "target_slowdown": TARGET_SLOWDOWN,
        "scoring": {
            "status": poller.last.get("status"), "stopped_at_max_s": stopped,
            "window_s": None if window is None else window[1] - window[0],
            "loop_s": result.get("seconds"), "images_scored": len(scored), "skipped": result.get("skipped"),
            "per_image": _per_image_seconds(clicker.client, scored),
            "processes": list(poller.processes.values()),
        },
        "click_errors": clicker.errors[:10],
        "enough_clicks": len(counted) >= clicks,
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="gaussian_click_2d", help=f"click model, one of {sorted(SERVER_MODELS)}")
    parser.add_argument("--cases", type=int, default=16, help="unlabelled studies the scoring job scores")
    parser.add_argument("--clicks", type=int, default=40, help="clicks in each series (baseline, during scoring)")
    parser.add_argument("--warm", type=int, default=3, help="warm-up clicks before the baseline (not counted)")
    parser.add_argument("--augmentations", default="", help="the job's test-time augmentations, comma-separated "
                        "(default: the app's); fewer is a shorter job")
    parser.add_argument("--workers", type=int, default=2, help="the server's inference workers (--conf infer_workers)")
    parser.add_argument("--poll-s", type=float, default=0.25, help="GET /scoring/ period, s")
    parser.add_argument("--max-s", type=float, default=900,
                        help="bound on the scoring phase, s (then the job is stopped)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    model = args.models.strip()
    if model not in SERVER_MODELS:
        parser.error(f"unknown model {model!r}; known: {sorted(SERVER_MODELS)}")
    if args.cases < 1 or args.clicks < 1:
        parser.error("--cases and --clicks must be at least 1")
    scoring_params = {"augmentations": [a for a in args.augmentations.split(",") if a]} if args.augmentations else {}

    report = {"loadavg_before": os.getloadavg(), "machine": asdict(describe_machine()), "model": model,
              "cases": args.cases, "clicks": args.clicks, "workers": args.workers, "scoring_params": scoring_params,
              "note": "other processes share this machine's CPU; see loadavg_before / loadavg_after"}
    with tempfile.TemporaryDirectory(prefix="scoring-interference-") as tmp:
        root = Path(tmp)
        studies = root / "datastore"
        write_datastore(studies, cases=args.cases + 1, first_seed=0, labelled=1)  # phantom_0000: the clicks' image
        image = "phantom_0000"
        served = ",".join(dict.fromkeys(SERVER_MODELS[model].split(",") + ["segmentation"]))
        conf = {"models": served, "model_dir": root / "model", "infer_workers": args.workers}
        with start_server(APP_DIR, studies, conf, root / "server.log",
                          env_extra={"MONAI_LABEL_SESSION_PATH": str(root / "sessions")}) as server:
            report["warmup_s"] = wait_for_warmup(server)
            log = (root / "server.log").read_text()
            threads = [line for line in log.splitlines() if "guards installed" in line]
            report["server_threads"] = threads[-1].split(" - ", 1)[-1] if threads else None
            clicker = Clicker(server.url, model, image, _gtv_voxels(studies, image), root / "client")
            for _ in range(args.warm):
                clicker.click()
            report.update(measure(server.url, server.process.pid, clicker, args.clicks, scoring_params,
                                  args.poll_s, args.max_s))
    report["loadavg_after"] = os.getloadavg()
    return emit(report, args.out)


if __name__ == "__main__":
    main()
