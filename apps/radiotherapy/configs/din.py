"""DIN (deep interactive network): infer task ``din`` and a trainer.

Weights: the shipped ``models/<din_model>/weights.pt`` (trained by ``python -m lib.din.train``)
until the server's own training publishes ``<model_dir>/din.pt`` (``<model_dir>/<din_model>.pt``
for another model than ``din``); the newest existing path wins. The task is offered to
clients (``/info``) only once shipped weights exist. The network is built with the
architecture (widths, DIM outputs) saved in the weights, and images are prepared in their
model space (CT, or MRI STIR for ``din_stir``; :mod:`lib.din.preprocess`).

``--conf`` options:
    din_models: folder holding ``din/weights.pt`` (default: the repository's ``models``).
    din_model: which model of that folder to serve: ``din`` (CT, default) or ``din_stir``
        (MRI-STIR-like studies, 2.4 x 2.4 x 7.5 mm thick slices).
    din_cache: ``false`` loads and pre-processes the image on every request (the plain
        MONAI Label way); default ``true``: the session cache. A request's ``"use_cache"``
        param overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

from monailabel.interfaces.config import TaskConfig
from monailabel.utils.others.generic import strtobool

from infers.din import Din
from lib.din.guides import GuideSettings
from lib.din.network import CPU_WIDTHS, checkpoint_settings, din_network
from lib.din.predict import modality_of, settings_of
from trainers.din import DinTrainer

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_MODELS = REPO_ROOT / "models"
DEFAULT_MODEL = "din"


class DinConfig(TaskConfig):
    """Config options: ``din_models``, ``din_model``, ``din_cache`` (see the module doc)."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        models = Path(conf.get("din_models") or SHIPPED_MODELS).absolute()  # absolute: see main.absolute_dir
        model = conf.get("din_model") or DEFAULT_MODEL
        if not model.replace("_", "").isalnum():
            raise ValueError(f"din_model must be a model folder name such as 'din' or 'din_stir', got {model!r}")
        self.use_cache = bool(strtobool(conf.get("din_cache", "true")))
        trained = f"{name}.pt" if model == DEFAULT_MODEL else f"{model}.pt"
        shipped = models / model / "weights.pt"
        self.path = [str(shipped), os.path.join(model_dir, trained)]
        existing = next((p for p in reversed(self.path) if os.path.exists(p)), None)
        saved = checkpoint_settings(existing) if existing else {}
        self.network = din_network(tuple(saved.get("widths", CPU_WIDTHS)), bool(saved.get("deep_guides", True)))
        self.settings = settings_of(existing) if existing else GuideSettings()
        # the server's own checkpoints hold weights only: their model space is the shipped model's
        self.modality = modality_of(shipped) if shipped.exists() else "ct"
        self.load_path = existing

    @staticmethod
    def has_weights() -> bool:
        return (SHIPPED_MODELS / "din" / "weights.pt").exists()

    def infer(self):
        return {self.name: Din(self.path, self.network, use_cache=self.use_cache, modality=self.modality)}

    def trainer(self):
        return DinTrainer(
            model_dir=os.path.join(self.model_dir, self.name),
            network=self.network,
            publish_path=self.path[-1],
            settings=self.settings,
            load_path=self.load_path,
            modality=self.modality,
            config={"max_epochs": 20, "val_split": 0.2, "train_batch_size": 4, "val_batch_size": 4,
                    "lr": 3e-4, "tracking": "None"},
        )
