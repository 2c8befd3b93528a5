"""Online corrective training: infer task ``online`` (the newest best model) and trainer ``online``.

The model starts from random weights (as RootPainter3D) and learns only from the users'
saved annotations; ``online`` answers once the trainer has saved a first model
(``<model_dir>/online/best.pt``, replaced atomically, re-read by the next request).
"""

from __future__ import annotations

import os
from pathlib import Path

from monailabel.interfaces.config import TaskConfig

from infers.segmentation import Segmentation
from lib.segmentation.network import segmentation_unet
from lib.online.trainer import TrainerConfig
from trainers.online import OnlineTrainTask


class OnlineConfig(TaskConfig):
    """Config option ``online_epoch_length``: patches per epoch instead of the paper's rule
    (128, or max(64, 2 x annotated validation tiles)); for short scripted runs and tests."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.work_dir = Path(model_dir) / name
        self.network = segmentation_unet()
        length = conf.get("online_epoch_length")
        self.trainer_config = TrainerConfig(fixed_epoch_length=int(length) if length else None)

    @staticmethod
    def has_weights() -> bool:
        return False  # trains its own; not loaded unless asked for (--conf models ...,online)

    @property
    def best_path(self) -> str:
        return os.path.join(self.work_dir, "best.pt")

    def infer(self):
        return {self.name: OnlineSegmentation(path=[self.best_path], network=self.network,
                                              description="Online model: learns from your saved corrections")}

    def trainer(self):
        return OnlineTrainTask(self.work_dir, self.trainer_config)


class OnlineSegmentation(Segmentation):
    """The automatic-model infer task on the online trainer's best weights (404 until there are some)."""

    def __call__(self, request, callbacks=None):
        if self.get_path() is None:
            from fastapi import HTTPException

            raise HTTPException(
                status_code=404,
                detail="the online model has no weights yet: save a corrective or final label to start training",
            )
        return super().__call__(request, callbacks)
