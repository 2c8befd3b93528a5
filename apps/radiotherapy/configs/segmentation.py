"""The automatic GTV + heart model: infer task and trainer.

Weights: the shipped ones (``models/segmentation/weights.pt``, trained by
``python -m lib.segmentation.train``) until the server's own training publishes
``<app>/model/segmentation.pt``; then that one (the newest existing path wins).
"""

from __future__ import annotations

import os
from pathlib import Path

from monailabel.interfaces.config import TaskConfig

from infers.segmentation import Segmentation
from lib.segmentation.network import segmentation_unet
from trainers.segmentation import SegmentationTrainer

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_WEIGHTS = REPO_ROOT / "models" / "segmentation" / "weights.pt"


class SegmentationConfig(TaskConfig):
    """Config options: none beyond the common ones."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.network = segmentation_unet()
        self.path = [str(SHIPPED_WEIGHTS), os.path.join(model_dir, f"{name}.pt")]

    @staticmethod
    def has_weights() -> bool:
        return SHIPPED_WEIGHTS.exists()

    def infer(self):
        return {self.name: Segmentation(path=self.path, network=self.network)}

    def trainer(self):
        output_dir = os.path.join(self.model_dir, self.name)
        return SegmentationTrainer(
            model_dir=output_dir,
            network=self.network,
            load_path=next((p for p in reversed(self.path) if os.path.exists(p)), None),
            publish_path=self.path[-1],
            config={"max_epochs": 20, "val_split": 0.2, "tracking": "None"},
        )
