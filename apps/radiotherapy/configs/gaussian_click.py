"""The Gaussian-click interactive models: infer tasks ``gaussian_click_2d`` / ``gaussian_click_3d`` and a trainer.

Weights: the shipped ones (``models/gaussian_click_2d/weights.pt`` and
``models/gaussian_click_3d/weights.pt``, trained by ``python -m lib.gaussian_click.train``)
until the server's own training publishes ``<model_dir>/gaussian_click_2d.pt``; the newest
existing path wins. The 2D task is always built but only offered to clients (``/info``) once
it has weights; the 3D task is built only when its weights exist.

``--conf`` options:
    gaussian_click_models: folder holding ``gaussian_click_<d>d/weights.pt`` (default: the
        repository's ``models``).
    gaussian_click_cache: ``false`` loads and pre-processes the image on every request (the
        plain MONAI Label way); default ``true``: the session cache. A request's
        ``"use_cache"`` param overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

from monailabel.interfaces.config import TaskConfig
from monailabel.utils.others.generic import strtobool

from infers.gaussian_click import GaussianClick
from lib.gaussian_click.network import gaussian_click_net
from trainers.gaussian_click import GaussianClickTrainer

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_MODELS = REPO_ROOT / "models"


def shipped_weights(models: Path, dims: int) -> Path:
    """``<models>/gaussian_click_<dims>d/weights.pt``."""
    return models / f"gaussian_click_{dims}d" / "weights.pt"


class GaussianClickConfig(TaskConfig):
    """Config options: ``gaussian_click_models``, ``gaussian_click_cache`` (see the module doc)."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        models = Path(conf.get("gaussian_click_models") or SHIPPED_MODELS).absolute()  # absolute: see main.absolute_dir
        self.use_cache = bool(strtobool(conf.get("gaussian_click_cache", "true")))
        self.paths = {
            dims: [str(shipped_weights(models, dims)), os.path.join(model_dir, f"{name}_{dims}d.pt")] for dims in (2, 3)
        }
        self.networks = {dims: gaussian_click_net(dims) for dims in (2, 3)}

    @staticmethod
    def has_weights() -> bool:
        return any(SHIPPED_MODELS.glob("gaussian_click*/weights.pt"))

    def _exists(self, dims: int) -> bool:
        return any(os.path.exists(p) for p in self.paths[dims])

    def infer(self):
        tasks = {
            f"{self.name}_{dims}d": GaussianClick(self.paths[dims], dims, self.networks[dims], use_cache=self.use_cache)
            for dims in (2, 3)
            if dims == 2 or self._exists(dims)
        }
        return tasks

    def trainer(self):
        path = self.paths[2]
        return GaussianClickTrainer(
            model_dir=os.path.join(self.model_dir, f"{self.name}_2d"),
            network=self.networks[2],
            publish_path=path[-1],
            dims=2,
            load_path=next((p for p in reversed(path) if os.path.exists(p)), None),
            config={"max_epochs": 20, "val_split": 0.2, "train_batch_size": 8, "val_batch_size": 8,
                    "max_interactions": 5, "lr": 1e-4, "tracking": "None"},
        )
