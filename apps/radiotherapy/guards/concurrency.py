"""Run blocking request work (inference, label checks, strategies) off the event loop, bounded.

MONAI Label 0.8.5 declares its endpoints ``async`` and runs inference inside them, so one
click blocks every other request. :class:`BoundedPool` runs such work in a fixed number of
worker threads; at most ``workers + queue`` requests are in flight, the next one gets HTTP 503
at once. Torch's intra-op threads are set so that the workers together use the cores once
(:func:`torch_threads_per_worker`), not each of them all cores; so are the native pools that
numpy and scipy call into (OpenBLAS starts one thread per core and spins it between calls:
one session's clicks kept a second core busy, and 8 sessions' clicks fought over it;
:func:`limit_native_threads`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from fastapi import HTTPException

logger = logging.getLogger(__name__)
T = TypeVar("T")


def torch_threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Intra-op threads per worker so that ``workers`` concurrent requests use ``cores`` once."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def limit_native_threads(threads: int) -> list[str]:
    """Cap every BLAS and OpenMP pool of the process (numpy's OpenBLAS, torch's OpenMP, ...) at
    ``threads`` threads, for all threads from now on; "<library> <api>: <threads>" per pool."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads)  # kept: the limits stand until restored, which is never here
    return sorted(f"{p['prefix']} {p['internal_api']}: {p['num_threads']}" for p in threadpool_info())


class BoundedPool:
    """A thread pool for one kind of work, with a bound on requests in flight.

    Args:
        name: what runs here, for thread names and messages (``"inference"``).
        workers: threads that run requests at the same time.
        queue: requests that may wait for a thread; one more is refused with HTTP 503.
    """

    def __init__(self, name: str, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be >= 1 and queue >= 0, got {workers} and {queue}")
        self.name, self.workers, self.queue = name, workers, queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._in_flight = 0  # only touched on the event loop's thread

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in one of the pool's threads, waiting for it (the server's own background work:
        warm-up, prefetch). Not counted against the bound. A thread's first torch call, and its
        first at a new input shape, is slow (its OpenMP team, its oneDNN state): work done in the
        threads that answer users leaves them ready for the user's first click."""
        return self._executor.submit(fn).result()

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` in a worker thread; HTTP 503 when the pool is full."""
        if self._in_flight >= self.workers + self.queue:
            raise HTTPException(
                status_code=503,
                detail=f"server busy: {self._in_flight} {self.name} requests in flight "
                f"(limit {self.workers + self.queue}); retry shortly",
                headers={"Retry-After": "1"},
            )
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        finally:
            self._in_flight -= 1
