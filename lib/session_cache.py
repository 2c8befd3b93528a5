"""Keep each session's loaded, pre-processed image in memory: a new click costs a network pass only.

A bounded, thread-safe least-recently-used cache shared by every interactive method. Entries
are keyed by the image FILE as it is now (real path, modification time in ns, size in bytes,
see :func:`file_key`) or by a MONAI Label session id (:func:`session_key`), plus a tag naming
the pre-processing (``"gaussian_click_2d"``...), so two methods never read each other's
model space and an image rewritten on disk is never served stale.

The cache is bounded by the number of entries AND by their total size in bytes; the least
recently used entries leave first. A value larger than the byte bound on its own is returned
but not kept. Loading is single-flight: threads asking for the same missing key wait for one
load instead of decoding the file twice.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

V = TypeVar("V")

#: Defaults of the process-wide cache (:func:`shared_cache`): 8 images or 2 GiB.
DEFAULT_MAX_ENTRIES = 8
DEFAULT_MAX_BYTES = 2 * 1024**3


def file_key(path: str | os.PathLike, *tags: Hashable) -> tuple:
    """Key of an image file as it is now: (real path, mtime in ns, size in bytes, *tags).

    Raises:
        ValueError: the file does not exist (named).
    """
    real = os.path.realpath(path)
    try:
        stat = os.stat(real)
    except OSError as error:
        raise ValueError(f"image file '{path}' cannot be read: {error.strerror}") from None
    return ("file", real, stat.st_mtime_ns, stat.st_size, *tags)


def session_key(session_id: str, *tags: Hashable) -> tuple:
    """Key of a MONAI Label session (whose uploaded image never changes): ("session", id, *tags).

    Raises:
        ValueError: an empty or non-string session id.
    """
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
    return ("session", session_id, *tags)


def deep_nbytes(value: Any, _seen: set[int] | None = None) -> int:
    """Bytes held by arrays and tensors inside ``value`` (containers and dataclasses searched).

    Objects with an integer ``nbytes`` (numpy arrays, torch tensors, MetaTensors, or any class
    that declares one) count that; dicts, lists, tuples, sets and dataclass fields are searched;
    anything else counts 0, being small next to an image.
    """
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, torch.Tensor):
        return int(value.element_size() * value.nelement())
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, (int, np.integer)) and not isinstance(nbytes, bool):
        return int(nbytes)
    if isinstance(value, dict):
        return sum(deep_nbytes(v, seen) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(deep_nbytes(v, seen) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(deep_nbytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    return 0


@dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`SessionCache`.

    Attributes:
        hits: answers given from memory.
        misses: loads run (a thread that waited for another's load counts as a hit).
        evictions: entries dropped to respect the bounds.
        entries: entries held now.
        bytes: bytes held now.
    """

    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int


class _Loading:
    """A load in flight: the threads asking for the same key wait on ``done``."""

    def __init__(self) -> None:
        self.done = threading.Event()


class SessionCache(Generic[V]):
    """Bounded, thread-safe LRU cache of pre-processed images.

    Args:
        max_entries: at most this many entries (>= 1).
        max_bytes: at most this many bytes in all (>= 1), as measured by ``sizeof``.
        sizeof: bytes of one value; default :func:`deep_nbytes`.

    Raises:
        ValueError: a bound below 1.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        sizeof: Callable[[Any], int] = deep_nbytes,
    ) -> None:
        for name, bound in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {bound!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._loading: dict[Hashable, _Loading] = {}
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``key`` is held (does not count as a use)."""
        with self._lock:
            return key in self._items

    @property
    def stats(self) -> CacheStats:
        """The counters now."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._items), self._bytes)

    def get(self, key: Hashable) -> V | None:
        """The value of ``key`` (now the most recently used), or None; counts a hit or a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self._hits += 1
                return self._items[key][0]
            self._misses += 1
            return None

    def put(self, key: Hashable, value: V) -> bool:
        """Keep ``value`` under ``key``, evicting least recently used entries to fit.

        Returns:
            True if kept; False if ``value`` alone is larger than ``max_bytes``.
        """
        size = int(self._sizeof(value))
        with self._lock:
            self._remove(key)
            if size > self.max_bytes:
                return False
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                oldest = next(iter(self._items))
                self._remove(oldest)
                self._evictions += 1
            return True

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        """The value of ``key``, loading it with ``load()`` once if it is not held.

        Concurrent callers with the same key wait for a single load. An exception from
        ``load`` reaches its caller and nothing is kept; waiting callers then try themselves.
        """
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    self._hits += 1
                    return self._items[key][0]
                loading = self._loading.get(key)
                owner = loading is None
                if owner:
                    loading = self._loading[key] = _Loading()
                    self._misses += 1
            if not owner:
                loading.done.wait()
                continue
            try:
                value = load()
                self.put(key, value)
                return value
            finally:
                with self._lock:
                    del self._loading[key]
                loading.done.set()

    def pop(self, key: Hashable) -> V | None:
        """Remove ``key``; its value, or None if it was not held."""
        with self._lock:
            item = self._items.get(key)
            self._remove(key)
            return None if item is None else item[0]

    def clear(self) -> None:
        """Drop every entry (counters are kept)."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _remove(self, key: Hashable) -> None:
        """Drop ``key`` if held; the caller holds the lock."""
        item = self._items.pop(key, None)
        if item is not None:
            self._bytes -= item[1]


_SHARED: SessionCache | None = None
_SHARED_LOCK = threading.Lock()


def shared_cache() -> SessionCache:
    """The process-wide cache every infer task uses (created on first use with the defaults).

    Its bounds can be set from the environment: ``SESSION_CACHE_MAX_ENTRIES`` and
    ``SESSION_CACHE_MAX_MB``.
    """
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            entries = int(os.environ.get("SESSION_CACHE_MAX_ENTRIES", DEFAULT_MAX_ENTRIES))
            megabytes = float(os.environ.get("SESSION_CACHE_MAX_MB", DEFAULT_MAX_BYTES / 1024**2))
            _SHARED = SessionCache(max_entries=entries, max_bytes=int(megabytes * 1024**2))
        return _SHARED


__all__ = [
    "CacheStats",
    "SessionCache",
    "deep_nbytes",
    "file_key",
    "session_key",
    "shared_cache",
]

