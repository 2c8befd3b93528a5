"""The session cache: hits and misses, eviction by count and by bytes, keys, thread safety."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from lib.session_cache import SessionCache, deep_nbytes, file_key, session_key


def block(kib: int) -> np.ndarray:
    return np.zeros(kib * 1024, dtype=np.uint8)


def test_hits_and_misses_are_counted():
    cache = SessionCache(max_entries=4, max_bytes=10**6)
    assert cache.get("a") is None
    cache.put("a", block(1))
    assert cache.get("a") is not None
    loads = []
    value = cache.get_or_load("b", lambda: loads.append(1) or block(1))
    assert cache.get_or_load("b", lambda: loads.append(1) or block(1)) is value
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.entries, stats.bytes) == (2, 2, 2, 2048)
    assert loads == [1]


def test_least_recently_used_leaves_first_when_over_the_count():
    cache = SessionCache(max_entries=2, max_bytes=10**6)
    cache.put("a", block(1))
    cache.put("b", block(1))
    cache.get("a")  # a is now more recent than b
    cache.put("c", block(1))
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.stats.evictions == 1


def test_bytes_bound_evicts_as_many_as_needed():
    cache = SessionCache(max_entries=10, max_bytes=5 * 1024)
    for key in "abcd":
        cache.put(key, block(1))
    cache.put("big", block(3))  # 4 + 3 KiB > 5 KiB: a and b leave
    assert [k for k in "abcd" if k in cache] == ["c", "d"]
    assert cache.stats.bytes == 5 * 1024 and cache.stats.evictions == 2


def test_a_value_larger_than_the_bound_is_returned_but_not_kept():
    cache = SessionCache(max_entries=10, max_bytes=1024)
    cache.put("small", block(1))
    assert cache.put("huge", block(2)) is False
    assert cache.get_or_load("huge2", lambda: block(2)).nbytes == 2048
    assert "huge" not in cache and "huge2" not in cache and "small" in cache


def test_replacing_a_key_keeps_the_byte_count_right():
    cache = SessionCache(max_entries=10, max_bytes=10**6)
    cache.put("a", block(2))
    cache.put("a", block(1))
    assert cache.stats.bytes == 1024 and len(cache) == 1
    assert cache.pop("a").nbytes == 1024 and cache.stats.bytes == 0


def test_sizes_of_tensors_containers_and_dataclasses():
    @dataclass
    class Held:
        image: torch.Tensor
        extra: dict

    held = Held(torch.zeros(10, dtype=torch.float32), {"a": np.zeros(5, np.float64), "b": [torch.zeros(2, 2)]})
    assert deep_nbytes(held) == 40 + 40 + 16


def test_file_key_changes_when_the_file_changes(tmp_path):
    path = tmp_path / "image.nii.gz"
    path.write_bytes(b"one")
    first = file_key(path, "gaussian_click_2d")
    assert file_key(path, "gaussian_click_2d") == first
    assert file_key(path, "gaussian_click_3d") != first
    path.write_bytes(b"longer content")
    os.utime(path, ns=(first[2] + 10**9, first[2] + 10**9))
    assert file_key(path, "gaussian_click_2d") != first
    with pytest.raises(ValueError, match="cannot be read"):
        file_key(tmp_path / "missing.nii.gz")
    assert session_key("abc", "gaussian_click_2d") == ("session", "abc", "gaussian_click_2d")
    with pytest.raises(ValueError, match="session_id"):
        session_key("")


@pytest.mark.parametrize("bounds", [{"max_entries": 0}, {"max_bytes": 0}, {"max_entries": 1.5}])
def test_bad_bounds_are_refused(bounds):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        SessionCache(**bounds)


def test_concurrent_requests_for_one_image_load_it_once():
    cache = SessionCache(max_entries=4, max_bytes=10**6)
    loads = []

    def slow_load():
        loads.append(threading.get_ident())
        time.sleep(0.05)
        return block(1)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("img", slow_load))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(results) == 8
    assert all(r is results[0] for r in results)


def test_a_failed_load_reaches_its_caller_and_is_not_kept():
    cache = SessionCache(max_entries=4, max_bytes=10**6)

    def broken():
        raise OSError("corrupt file")

    with pytest.raises(OSError, match="corrupt"):
        cache.get_or_load("img", broken)
    assert "img" not in cache
    assert cache.get_or_load("img", lambda: block(1)).nbytes == 1024


def test_many_threads_keep_the_bounds():
    cache = SessionCache(max_entries=3, max_bytes=3 * 1024)

    def work(n: int):
        for i in range(50):
            cache.get_or_load((n + i) % 7, lambda: block(1))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats
    assert stats.entries <= 3 and stats.bytes == stats.entries * 1024
    assert stats.hits + stats.misses == 300
