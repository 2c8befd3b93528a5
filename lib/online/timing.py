"""Annotation time per image from an append-only log of interaction events (RootPainter3D's method).

The log is JSON lines, one event per line::

    {"time": 1700000000.0, "event": "served", "image": "case_0001"}

``event`` is "served" (an image was opened for the user), "saved" (its annotation was saved)
or "interaction" (any other user action). Appends are the one kind of write here that is not
temp-file-and-rename: each line is written whole under a lock, flushed and fsync-ed, and a
line torn by a crash is skipped when reading.

    python -m lib.online.timing --log events.jsonl [--idle-gap 20] [--format markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypedDict

EVENTS = ("served", "saved", "interaction")
#: Gaps with no event for at least this long (s) are inactivity, not annotation time.
IDLE_GAP_S = 20.0


class Event(TypedDict):
    time: float
    event: str
    image: str


class EventLog:
    """Append-only JSON-lines event log, safe for concurrent writers in one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, event: str, image: str, at: float | None = None) -> Event:
        """Append one event (time ``at``, unix s, default now) and make it durable before returning."""
        if event not in EVENTS:
            raise ValueError(f"event must be one of {EVENTS}, got {event!r}")
        record: Event = {"time": time.time() if at is None else float(at), "event": event, "image": str(image)}
        line = json.dumps(record) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as f:
                if f.tell() > 0:  # a crash may have left a torn line without its newline: end it
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode())
                f.flush()
                os.fsync(f.fileno())
        return record

    def read(self) -> list[Event]:
        """The events logged so far (see :func:`read_events`)."""
        return read_events(self.path)


def read_events(path: str | Path) -> list[Event]:
    """Events of a log file in file order; lines that are not JSON (torn by a crash) are skipped.

    Raises:
        ValueError: a line is JSON but not an event (names its line number).
    """
    events: list[Event] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or record.get("event") not in EVENTS or "image" not in record:
            raise ValueError(f"{path}:{number}: not an event: {line[:200]}")
        events.append({"time": float(record["time"]), "event": record["event"], "image": str(record["image"])})
    return events


def time_per_image(events: Iterable[Event], idle_gap_s: float = IDLE_GAP_S) -> dict[str, float]:
    """Seconds of annotation per image, inactivity excluded.

    Events are ordered by time. An image's time runs from its "served" event until the next
    "served" event (of any image); the last image served runs until its last "saved" event
    (or, if never saved after being served, its last event). Within that span every gap
    between consecutive events shorter than ``idle_gap_s`` counts; gaps of ``idle_gap_s`` or
    more are inactivity and count nothing. Events before the first "served" are ignored; an
    image served twice adds both spans.

    Returns:
        image -> seconds, for every image served.
    """
    ordered = sorted(events, key=lambda e: e["time"])
    served = [n for n, e in enumerate(ordered) if e["event"] == "served"]
    seconds: dict[str, float] = {}
    for k, begin in enumerate(served):
        image = ordered[begin]["image"]
        if k + 1 < len(served):
            end = served[k + 1]
        else:
            saves = [n for n in range(begin, len(ordered)) if ordered[n]["event"] == "saved"
                     and ordered[n]["image"] == image]
            end = saves[-1] if saves else len(ordered) - 1
        gaps = (ordered[n + 1]["time"] - ordered[n]["time"] for n in range(begin, end))
        seconds[image] = seconds.get(image, 0.0) + sum(g for g in gaps if g < idle_gap_s)
    return seconds


def report(seconds: dict[str, float]) -> dict:
    """Per-image seconds with their count, total and mean (``None`` without images)."""
    total = float(sum(seconds.values()))
    return {
        "images": dict(seconds),
        "count": len(seconds),
        "total_s": total,
        "mean_s": total / len(seconds) if seconds else None,
    }


def markdown(summary: dict) -> str:
    """The report as a markdown table."""
    lines = ["| image | seconds |", "|---|---:|"]
    lines += [f"| {image} | {s:.1f} |" for image, s in summary["images"].items()]
    mean = "n/a" if summary["mean_s"] is None else f"{summary['mean_s']:.1f}"
    lines += [f"| **total ({summary['count']} images)** | {summary['total_s']:.1f} |", f"| **mean** | {mean} |"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", required=True, help="JSON-lines event log")
    parser.add_argument("--idle-gap", type=float, default=IDLE_GAP_S, help="inactivity threshold in seconds")
    parser.add_argument("--format", choices=("json", "markdown"), default="json")
    args = parser.parse_args(argv)
    summary = report(time_per_image(read_events(args.log), args.idle_gap))
    print(json.dumps(summary, indent=2) if args.format == "json" else markdown(summary))


if __name__ == "__main__":
    main()
