"""The universal click model: infer task ``universal_click`` (built only when its weights exist).

Weights: ``models/universal_click_3d/weights.pt`` (``python -m lib.universal_click.train``).
``--conf universal_click_cache false`` loads the image on every request.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from monailabel.interfaces.config import TaskConfig
from monailabel.utils.others.generic import strtobool

from infers.universal_click import UniversalClick
from lib.gaussian_click.network import gaussian_click_net

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_WEIGHTS = REPO_ROOT / "models" / "universal_click_3d" / "weights.pt"


class UniversalClickConfig(TaskConfig):
    """Config option ``universal_click_cache`` (see the module doc)."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.use_cache = bool(strtobool(conf.get("universal_click_cache", "true")))
        self.path = [str(SHIPPED_WEIGHTS)]

    @staticmethod
    def has_weights() -> bool:
        return SHIPPED_WEIGHTS.exists()

    def infer(self):
        if not os.path.exists(self.path[0]):
            return {}
        meta = {k: v for k, v in torch.load(self.path[0], map_location="cpu", weights_only=True).items() if k != "model"}
        return {self.name: UniversalClick(self.path, meta, gaussian_click_net(3), use_cache=self.use_cache)}

    def trainer(self):
        return None
