"""Server-side glue of online training: start (or resume) the trainer, log annotation events.

- :func:`start_online_training`: asks MONAI Label to run the ``online`` trainer in its
  training process, unless a training process is already running. Called when a label is
  saved and, when an earlier run had started it, at server start (from a short-lived thread
  a moment later: MONAI Label's task runner needs the finished app instance).
- :class:`AnnotationEvents`: "served" (an image given to a user: next sample, or the first
  inference on it) and "saved" (a label saved) events, appended to a JSON-lines log that
  ``python -m lib.online.timing`` turns into time per image.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from lib.online.timing import EventLog

logger = logging.getLogger(__name__)

ONLINE = "online"
EVENTS_FILE = "annotation_events.jsonl"


def start_online_training(reason: str, delay_s: float = 0.0) -> None:
    """Start the ``online`` trainer in MONAI Label's training process if none is running (async)."""

    def start() -> None:
        from monailabel.utils.async_tasks.task import AsyncTask, processes

        time.sleep(delay_s)
        if processes("train"):
            return
        logger.info(f"starting online training: {reason}")
        AsyncTask.run("train", request={"model": ONLINE}, params={}, enqueue=False)

    threading.Thread(target=start, name="start-online-training", daemon=True).start()


class AnnotationEvents:
    """The server's annotation-time log (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.log = EventLog(path)
        self._last_served: str | None = None
        self._lock = threading.Lock()

    def served(self, image_id: object) -> None:
        """Log that ``image_id`` was given to a user, unless it is the image served last."""
        if not isinstance(image_id, str) or not image_id:
            return
        with self._lock:
            if image_id == self._last_served:
                return
            self._last_served = image_id
        self.log.append("served", image_id)

    def saved(self, image_id: object) -> None:
        if isinstance(image_id, str) and image_id:
            self.log.append("saved", image_id)
