"""Slice-edit propagation on the automatic model: infer task ``slice_propagation`` and the fusion trainer.

The network is the automatic model's (shipped ``models/segmentation/weights.pt`` or the
server-trained ``<model_dir>/segmentation.pt``, newest wins), never retrained here. The
fusion module: the server-trained ``<model_dir>/slice_propagation_fusion.pt`` if it exists
(looked up at every request), else the shipped ``models/propagation_unet/fusion.pt``; either
is used only with the base weights it was trained for.
"""

from __future__ import annotations

import os
from pathlib import Path

from monailabel.interfaces.config import TaskConfig

from infers.slice_propagation import SlicePropagation
from lib.segmentation.network import segmentation_unet
from trainers.slice_propagation import FusionTrainer

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_BASE = REPO_ROOT / "models" / "segmentation" / "weights.pt"
SHIPPED_FUSION = REPO_ROOT / "models" / "propagation_unet" / "fusion.pt"


class SlicePropagationConfig(TaskConfig):
    """No options beyond the common ones."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.network = segmentation_unet()
        self.base_paths = [str(SHIPPED_BASE), os.path.join(model_dir, "segmentation.pt")]
        self.trained_fusion = os.path.join(model_dir, f"{name}_fusion.pt")

    @staticmethod
    def has_weights() -> bool:
        return SHIPPED_BASE.exists()

    def infer(self):
        fusion = [str(SHIPPED_FUSION), self.trained_fusion]
        return {self.name: SlicePropagation(self.base_paths, {2: fusion}, self.network)}

    def trainer(self):
        return FusionTrainer(self.base_paths, self.trained_fusion)
