"""Publish the best checkpoint to the path the infer task serves, atomically.

MONAI Label 0.8.5 publishes with ``shutil.copy`` straight onto the served path, so an
inference starting mid-copy can read half a file. Here the copy goes to a temporary file
in the same folder and is renamed over the served path (``os.replace`` is atomic).
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
import tempfile

from ignite.engine import Engine, Events

logger = logging.getLogger(__name__)


def publish_atomically(source: str, target: str) -> bool:
    """Copy ``source`` over ``target`` via temp + rename when they differ; True if it published."""
    if not os.path.exists(source) or (os.path.exists(target) and filecmp.cmp(source, target, shallow=False)):
        return False
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".tmp", dir=os.path.dirname(os.path.abspath(target)))
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    logger.info(f"New model published: {source} => {target}")
    return True


class AtomicPublisher:
    """Ignite handler: after every epoch, publish ``<output_dir>/<best filename>`` if it changed."""

    def __init__(self, best_checkpoint: str, publish_path: str):
        self.best_checkpoint = best_checkpoint
        self.publish_path = publish_path

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        publish_atomically(self.best_checkpoint, self.publish_path)
