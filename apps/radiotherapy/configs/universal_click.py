"""The universal click model: infer task ``universal_click`` (built only when its weights exist).

Weights (``python -m lib.universal_click.train``): ``--conf universal_click_model`` ``gc``
(default when it exists: ``models/universal_click_gc_3d/weights.pt``, the model that refines the
graph-cut proposal of the clicks, 4 input channels) or ``plain``
(``models/universal_click_3d/weights.pt``, image and clicks only).
``--conf universal_click_cache false`` loads the image on every request.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from monailabel.interfaces.config import TaskConfig
from monailabel.utils.others.generic import strtobool

from infers.universal_click import UniversalClick
from lib.universal_click.network import network_for_state

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_WEIGHTS = REPO_ROOT / "models" / "universal_click_3d" / "weights.pt"
PROPOSAL_WEIGHTS = REPO_ROOT / "models" / "universal_click_gc_3d" / "weights.pt"
MODELS = {"gc": PROPOSAL_WEIGHTS, "plain": SHIPPED_WEIGHTS}


class UniversalClickConfig(TaskConfig):
    """Config options ``universal_click_model`` and ``universal_click_cache`` (see the module doc).

    Raises:
        ValueError: an unknown ``universal_click_model``.
    """

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.use_cache = bool(strtobool(conf.get("universal_click_cache", "true")))
        default = "gc" if PROPOSAL_WEIGHTS.exists() else "plain"
        choice = str(conf.get("universal_click_model", default))
        if choice not in MODELS:
            raise ValueError(f"universal_click_model must be one of {sorted(MODELS)}, got {choice!r}")
        self.model_choice = choice
        self.path = [str(MODELS[choice])]

    @staticmethod
    def has_weights() -> bool:
        return any(p.exists() for p in MODELS.values())

    def infer(self):
        if not os.path.exists(self.path[0]):
            return {}
        state = torch.load(self.path[0], map_location="cpu", weights_only=True)
        meta = {k: v for k, v in state.items() if k != "model"}
        meta["model"] = self.model_choice
        network = network_for_state(state["model"])
        return {self.name: UniversalClick(self.path, meta, network, use_cache=self.use_cache)}

    def trainer(self):
        return None
