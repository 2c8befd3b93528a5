"""The interaction event log and annotation time per image (inactivity of 20 s or more excluded)."""

from __future__ import annotations

import json
import threading

import pytest

from lib.online.timing import EventLog, main, read_events, report, time_per_image


def _events(*rows):
    return [{"time": float(t), "event": e, "image": i} for t, e, i in rows]


def test_time_per_image_by_hand():
    events = _events(
        (-50, "interaction", "a"),  # before anything was served: ignored
        (0, "served", "a"),
        (5, "interaction", "a"),
        (10, "interaction", "a"),
        (40, "interaction", "a"),  # 30 s idle: excluded
        (45, "saved", "a"),
        (50, "served", "b"),  # 5 s after a's save still counts for a
        (55, "interaction", "b"),
        (75, "interaction", "b"),  # exactly 20 s: idle
        (79, "saved", "b"),
        (90, "interaction", "b"),  # after the last image's last save: not counted
    )
    assert time_per_image(events) == {"a": 5 + 5 + 5 + 5, "b": 5 + 4}
    assert time_per_image(events, idle_gap_s=31) == {"a": 50, "b": 29}


def test_an_image_served_twice_adds_both_spans_and_order_is_by_time():
    events = _events((0, "served", "a"), (3, "served", "b"), (4, "interaction", "b"),
                     (6, "served", "a"), (8, "saved", "a"))
    assert time_per_image(events[::-1]) == {"a": 3 + 2, "b": 3}


def test_concurrent_appends_make_whole_lines(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")

    def write(thread):
        for n in range(50):
            log.append("interaction", f"image_{thread}", at=n)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == 400 and all(json.loads(line)["event"] == "interaction" for line in lines)


def test_a_torn_last_line_is_ignored_and_the_next_append_survives(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append("served", "a", at=0)
    with open(path, "a") as f:
        f.write('{"time": 3, "event": "sav')  # crash mid-line
    assert read_events(path) == _events((0, "served", "a"))
    log.append("saved", "a", at=4)
    assert read_events(path) == _events((0, "served", "a"), (4, "saved", "a"))
    with pytest.raises(ValueError, match="event"):
        log.append("clicked", "a")


def test_command_line_report(tmp_path, capsys):
    log = EventLog(tmp_path / "events.jsonl")
    for t, event, image in [(0, "served", "a"), (10, "saved", "a"), (12, "served", "b"), (18, "saved", "b")]:
        log.append(event, image, at=t)
    main(["--log", str(tmp_path / "events.jsonl")])
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"images": {"a": 12.0, "b": 6.0}, "count": 2, "total_s": 18.0, "mean_s": 9.0}
    main(["--log", str(tmp_path / "events.jsonl"), "--format", "markdown"])
    assert "| a | 12.0 |" in capsys.readouterr().out
    assert report({})["mean_s"] is None
