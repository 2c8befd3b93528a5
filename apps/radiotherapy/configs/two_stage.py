"""2S-ICR (two-stage interactive click refinement): infer task ``two_stage`` and its trainer.

Stage 1 is the automatic model (shipped ``models/segmentation/weights.pt``, or the
server-trained ``<model_dir>/segmentation.pt`` when it exists: the newest wins); stage 2 the
refinement net (shipped ``models/two_stage_ct/weights.pt`` until the server's own training
publishes ``<model_dir>/two_stage.pt``). The task is built only when refinement weights exist.

``--conf`` options:
    two_stage_stage1: comma-separated stage-1 weights, one per ensemble member (k = their
        number); default the automatic model's.
    two_stage_refinement: comma-separated refinement weights, one per member (k = their
        number; those that exist are used); default the shipped one, then the server-trained one.
    two_stage_modality: ``ct`` (default) or ``petct`` (images must have CT and PET channels;
        the defaults are then the shipped PET-CT stages, ``models/two_stage_petct/stage1.pt``
        and ``weights.pt``).
    two_stage_cache: ``false`` loads and pre-processes the image on every request (the plain
        MONAI Label way); default ``true``. A request's ``"use_cache"`` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

from monailabel.interfaces.config import TaskConfig
from monailabel.utils.others.generic import strtobool

from infers.two_stage import TwoStage
from lib.two_stage.preprocess import image_channels
from trainers.two_stage import TwoStageTrainer

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_STAGE1 = REPO_ROOT / "models" / "segmentation" / "weights.pt"
SHIPPED_REFINEMENT = REPO_ROOT / "models" / "two_stage_ct" / "weights.pt"
SHIPPED_PETCT_STAGE1 = REPO_ROOT / "models" / "two_stage_petct" / "stage1.pt"
SHIPPED_PETCT_REFINEMENT = REPO_ROOT / "models" / "two_stage_petct" / "weights.pt"


def _paths(text: str | None) -> list[str]:
    """Comma-separated paths, made absolute against the directory the server started in: a
    relative path must not change meaning later (ITK's lazy import changes the process's working
    directory for a moment, in whichever thread first touches it)."""
    return [os.path.abspath(p.strip()) for p in (text or "").split(",") if p.strip()]


class TwoStageConfig(TaskConfig):
    """Config options: ``two_stage_stage1``, ``two_stage_refinement``, ``two_stage_modality``,
    ``two_stage_cache`` (see the module doc)."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner, **kwargs):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.modality = conf.get("two_stage_modality", "ct")
        self.channels = image_channels(self.modality)
        self.use_cache = bool(strtobool(conf.get("two_stage_cache", "true")))
        trained_stage1 = os.path.join(model_dir, "segmentation.pt")  # the server-trained automatic model: CT
        if self.modality == "petct":
            default_stage1, shipped_refinement = str(SHIPPED_PETCT_STAGE1), str(SHIPPED_PETCT_REFINEMENT)
        else:
            default_stage1 = trained_stage1 if os.path.exists(trained_stage1) else str(SHIPPED_STAGE1)
            shipped_refinement = str(SHIPPED_REFINEMENT)
        self.stage1 = _paths(conf.get("two_stage_stage1")) or [default_stage1]
        self.published = os.path.join(model_dir, f"{name}.pt")
        listed = _paths(conf.get("two_stage_refinement"))
        self.ensemble = bool(listed)  # listed members are an ensemble; the defaults are shipped, then trained
        self.refinement = listed or [shipped_refinement, self.published]

    @staticmethod
    def has_weights() -> bool:
        return SHIPPED_REFINEMENT.exists() and SHIPPED_STAGE1.exists()

    def infer(self):
        if not any(os.path.exists(p) for p in self.refinement):
            return {}
        return {self.name: TwoStage(self.stage1, self.refinement, self.channels, use_cache=self.use_cache,
                                    ensemble=self.ensemble)}

    def trainer(self):
        return TwoStageTrainer(self.stage1, self.published, self.modality)
