"""Publish the best checkpoint to the path the infer task serves, atomically.

MONAI Label 0.8.5 publishes with ``shutil.copy`` straight onto the served path, so an
inference starting mid-copy can read half a file. Here the copy goes to a temporary file
in the same folder and is renamed over the served path (``os.replace`` is atomic).
Trainers get this by mixing in :class:`PublishesAtomically` before ``BasicTrainTask``.
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil

from ignite.engine import Engine, Events
from monailabel.tasks.train.basic_train import Context

from lib.atomic import write_atomically

logger = logging.getLogger(__name__)


def publish_atomically(source: str, target: str) -> bool:
    """Copy ``source`` over ``target`` via temp + rename when they differ; True if it published."""
    if not os.path.exists(source) or (os.path.exists(target) and filecmp.cmp(source, target, shallow=False)):
        return False
    write_atomically(target, lambda tmp: shutil.copyfile(source, tmp))
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


class PublishesAtomically:
    """Mixin for a ``BasicTrainTask``: after every epoch, publish the best checkpoint atomically.

    Put it before ``BasicTrainTask`` in the bases and pass ``publish_path`` to its constructor
    instead of MONAI Label's own (non-atomic) publish path; the other arguments go on to the
    next class.

    Args:
        publish_path: the weights path the infer task serves (written atomically).
        *args: passed on to the next class (``BasicTrainTask``).
        **kwargs: passed on to the next class (``BasicTrainTask``).
    """

    def __init__(self, *args, publish_path: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._served_path = publish_path

    def finalize(self, context: Context):
        super().finalize(context)  # type: ignore[misc]
        if context.local_rank == 0:
            best = os.path.join(context.output_dir, self._key_metric_filename)  # type: ignore[attr-defined]
            engine = context.evaluator if context.evaluator else context.trainer
            AtomicPublisher(best, self._served_path).attach(engine)
