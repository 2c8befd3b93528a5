"""Online corrective training as a MONAI Label trainer: ``/train/online`` trains until stopped.

Started by ``POST /train/online``, by the first saved label (the app's ``on_save_label``),
or at server start when an earlier session had started it (the app's ``on_init_complete``),
MONAI Label runs it in its training subprocess; it keeps training whether or not a client
is connected, on every annotated image of the datastore, re-listed every epoch:

- a ``final`` label: a complete label (0 background, 1 GTV, 2 heart);
- else a ``corrective`` label: 0 not annotated, 1 GTV, 2 heart, 3 background (README).

``DELETE /train`` stops it (the process is killed: every file it writes is written
atomically, so a kill at any moment leaves the last best model and state readable). One
process trains per work folder (a lock file): a trainer left running by a crashed server
keeps the folder and a new one declines to start.
A restart resumes from ``best.pt`` and ``state.json`` in the work folder. The status
(epoch, best validation Dice, images in train and validation, epochs without progress...)
is printed after every epoch - ``GET /train`` shows the training process's output - and
kept in ``status.json``, which ``/info``'s ``train_stats`` shows.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
from pathlib import Path
from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.train import TrainTask

from lib.online.dataset import AnnotatedImage
from lib.online.state import read_status
from lib.online.trainer import OnlineTrainer, TrainerConfig
from lib.segmentation.network import segmentation_unet

logger = logging.getLogger(__name__)

FINAL_TAG = "final"
CORRECTIVE_TAG = "corrective"
#: Held (flock) by the one process training on a work folder.
LOCK_FILE = "trainer.lock"


def annotated_images(datastore: Datastore) -> list[AnnotatedImage]:
    """Every image with a final label (complete) or, failing that, a corrective one."""
    refresh = getattr(datastore, "refresh", None)
    if callable(refresh):
        refresh()  # labels saved by the server process since this process started
    images = []
    for image_id in datastore.list_images():
        labels = datastore.get_labels_by_image_id(image_id)
        for tag, full in ((FINAL_TAG, True), (CORRECTIVE_TAG, False)):
            if tag in labels:
                image = datastore.get_image_uri(image_id)
                images.append(AnnotatedImage(image, datastore.get_label_uri(labels[tag], tag), full))
                break
    return images


class OnlineTrainTask(TrainTask):
    """The continuous trainer (see the module doc).

    Args:
        work_dir: where best.pt, state.json, status.json and split.json live.
        config: the trainer's settings (a request may override ``lr``, ``restart_after``, ``seed``).
    """

    def __init__(self, work_dir: str | Path, config: TrainerConfig = TrainerConfig()) -> None:
        super().__init__("Online corrective training (RootPainter3D rules), continuous until stopped")
        self.work_dir = Path(work_dir)
        self.trainer_config = config

    def config(self) -> dict[str, Any]:
        return {"lr": self.trainer_config.lr, "restart_after": self.trainer_config.restart_after,
                "seed": self.trainer_config.seed}

    def stats(self) -> dict[str, Any]:
        return read_status(self.work_dir) or {}

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.work_dir / LOCK_FILE, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when this process ends, however
            except BlockingIOError:
                message = f"another online trainer is running on {self.work_dir}; not starting a second"
                print(json.dumps({"online_training": "refused", "reason": message}), flush=True)
                return {"error": message}
            return self._train(request, datastore)

    def _train(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        options = {k: request[k] for k in ("lr", "restart_after", "seed") if k in request}
        config = TrainerConfig(**{**vars(self.trainer_config), **options})
        trainer = OnlineTrainer(self.work_dir, segmentation_unet, list_images=lambda: annotated_images(datastore),
                                config=config)
        stop = threading.Event()
        budget = request.get("max_epochs")  # for tests and scripted runs; the server default is no limit
        resumed = str(trainer.best_path) if trainer.best_path.exists() else None
        print(json.dumps({"online_training": "started", "resumed_from": resumed, **trainer.status()}), flush=True)
        epochs = 0
        while not stop.is_set() and (budget is None or epochs < int(budget)):
            status = trainer.run(stop, budget_epochs=1)
            epochs += 1
            print(json.dumps({"online_training": "epoch", **status}), flush=True)
        return trainer.status()
