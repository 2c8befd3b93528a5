"""An image fetched by a client is made ready for clicks in the background.

    prefetch = Prefetcher(lambda: app._infers, app.datastore)
    prefetch("phantom_0003", "download")      # returns at once

A client fetches an image (Slicer's *Next Sample* or an image download) seconds before its
user clicks. Meanwhile a daemon thread calls every served CLICK task once on that image the
way the server calls a task (a click at the image's centre, client id ``server-prefetch``, no
datastore event, no saved label, the answer file deleted): the task's prepared image lands in
its session cache under the same key the user's first click will use, and torch has run the
network on this study's shapes. The first click then costs what later ones do.

Bounded: one image at a time (a newer fetch waits for the running one; the same image is not
queued twice), at most :data:`QUEUE` images waiting (older ones are dropped), and only tasks
with a session cache (the click tasks: Gaussian click, DIN, 2S-ICR, universal click; not the
automatic model, not slice propagation, whose answers need the user's label). A task that fails
is logged and skipped: prefetching never fails the request that triggered it.
``--conf prefetch false`` turns it off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nibabel as nib

logger = logging.getLogger(__name__)

#: Client id of the prefetch requests (tasks keep a last answer per client: never the user's).
CLIENT_ID = "server-prefetch"
#: Images waiting at most; a fetch beyond drops the oldest waiting one.
QUEUE = 4


def is_click_task(task: Any) -> bool:
    """A task whose first click pays an image preparation kept in a session cache."""
    return (hasattr(task, "cache") and getattr(task, "type", None) in ("deepgrow", "deepedit")
            and bool(task.is_valid()))


def centre_click_request(name: str, image_path: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """The request a click task gets: one foreground click at the voxel centre (i, j, k) of an image of ``shape``."""
    centre = [int(n) // 2 for n in shape[:3]]
    return {"model": name, "image": image_path, "client_id": CLIENT_ID, "device": "cpu",
            "label": "gtv", "foreground": [centre], "background": []}


class Prefetcher:
    """Prepare fetched images for the served click tasks, in one daemon thread.

    Args:
        infers: returns the served infer tasks (name -> MONAI Label task), read at each prefetch.
        datastore: returns the datastore (its ``get_image_uri`` gives an image's file).
    """

    def __init__(self, infers: Callable[[], Mapping[str, Any]], datastore: Callable[[], Any],
                 runner: Callable[[Callable[[], Any]], Any] | None = None) -> None:
        self._infers, self._datastore = infers, datastore
        self._run = runner or (lambda fn: fn())
        self._waiting: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self.done: dict[str, dict[str, Any]] = {}  # image id -> per task seconds or error (the last run)

    def __call__(self, image_id: object, reason: str) -> None:
        """Queue ``image_id`` (a datastore id) for prefetching; returns at once."""
        if not isinstance(image_id, str) or not image_id:
            return
        with self._lock:
            self._waiting.pop(image_id, None)
            self._waiting[image_id] = reason
            while len(self._waiting) > QUEUE:
                self._waiting.popitem(last=False)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="prefetch", daemon=True)
                self._thread.start()
            self._lock.notify()

    def wait_idle(self, timeout_s: float) -> bool:
        """Until nothing is waiting or running (for tests and benchmarks); whether it got there."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._lock:
                if not self._waiting and (self._thread is None or not self._thread.is_alive()):
                    return True
            time.sleep(0.05)
        return False

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    return  # the thread ends; the next fetch starts a new one
                image_id, reason = self._waiting.popitem(last=False)
            self.done[image_id] = self.prefetch(image_id, reason)

    def prefetch(self, image_id: str, reason: str) -> dict[str, Any]:
        """Call each served click task once on the image (module doc); per task the seconds or the error."""
        results: dict[str, Any] = {}
        try:
            path = self._datastore().get_image_uri(image_id)
            shape = tuple(nib.load(path).shape)
        except Exception as error:  # an image that cannot be read is the click's to report, not ours
            logger.info(f"prefetch: {image_id} not prefetched ({type(error).__name__}: {error})")
            return {"error": str(error)}
        for name, task in dict(self._infers()).items():
            if not is_click_task(task) or getattr(task, "image_channels", 1) != (shape[3] if len(shape) > 3 else 1):
                continue
            start = time.perf_counter()
            try:
                request = centre_click_request(name, path, shape)
                answer, _ = self._run(lambda: task(request))  # noqa: B023 (called at once)
                if isinstance(answer, str):
                    Path(answer).unlink(missing_ok=True)
                results[name] = {"seconds": round(time.perf_counter() - start, 2)}
            except Exception as error:  # the user's own click will report what is wrong
                results[name] = {"error": f"{type(error).__name__}: {error}"}
        logger.info(f"prefetch ({reason}): {image_id}: {results}")
        return results


__all__ = ["CLIENT_ID", "QUEUE", "Prefetcher", "centre_click_request", "is_click_task"]
