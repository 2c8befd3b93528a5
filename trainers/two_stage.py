"""Train 2S-ICR's refinement net from the server's labelled images (``POST /train/two_stage``).

Runs :func:`lib.two_stage.train.fit_refinement`, the same procedure as
``python -m lib.two_stage.train``: the served stage 1 stays frozen, and its answers on the
datastore's images with a final label are the first previous masks; an optimiser step at
every simulated interaction (1..15 per iteration), mask dropout, Dice + BCE, AdamW with
cosine decay; validation with 10 clicks on the last ``val_fraction`` of the images. The
best refinement net is published atomically to ``<model_dir>/two_stage.pt``, which the
infer task serves from its next request on (it reloads changed weights).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.train import TrainTask

from lib.atomic import write_atomically
from lib.training import write_run_files
from lib.two_stage.model_card import write_model_card
from lib.two_stage.train import PAPER_LR, VAL_MARGIN_MM, fit_refinement, file_cases
from lib.two_stage.preprocess import image_channels
from lib.two_stage.transforms import MASK_DROPOUT_P

logger = logging.getLogger(__name__)


class TwoStageTrainer(TrainTask):
    """Trainer of the refinement net (see the module doc).

    Args:
        stage1_paths: the stage-1 weights files (all used: an ensemble).
        publish_path: where the trained refinement net is published (the infer task serves it).
        modality: ``"ct"`` or ``"petct"``.
        config: defaults of ``minutes``, ``lr``, ``mask_dropout``, ``val_fraction``, ``val_every``
            (a request may override them).
    """

    def __init__(self, stage1_paths: list[str], publish_path: str, modality: str = "ct",
                 config: dict[str, Any] | None = None):
        super().__init__("2S-ICR refinement net (stage 1 frozen), simulated border-distance clicks")
        self.stage1_paths = list(stage1_paths)
        self.publish_path = Path(publish_path)
        self.modality = modality
        image_channels(modality)
        self._config = {"minutes": 10.0, "lr": PAPER_LR, "mask_dropout": MASK_DROPOUT_P, "val_fraction": 0.2,
                        "val_every": 100, "seed": 0, **(config or {})}

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def stats(self) -> dict[str, Any]:
        metrics = self.publish_path.with_suffix(".json")
        return json.loads(metrics.read_text()) if metrics.exists() else {}

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        options = {**self._config, **{k: v for k, v in request.items() if k in self._config}}
        missing = [p for p in self.stage1_paths if not os.path.exists(p)]
        if missing:
            raise ValueError(f"stage-1 weights {missing} do not exist; train the automatic model first")
        items = [{"image": d["image"], "label": d["label"]} for d in datastore.datalist()]
        if len(items) < 2:
            raise ValueError(f"need at least 2 images with a final label to train, found {len(items)}")
        n_val = max(1, round(len(items) * float(options["val_fraction"])))
        work = self.publish_path.parent / f".{self.publish_path.stem}_work"
        validation = file_cases(items[-n_val:], VAL_MARGIN_MM, image_channels(self.modality))
        metrics = fit_refinement(
            [Path(p) for p in self.stage1_paths], items[:-n_val], validation, work, work / "stage1_cache",
            self.modality, minutes=float(options["minutes"]), lr=float(options["lr"]),
            mask_dropout=float(options["mask_dropout"]), val_every=int(options["val_every"]),
            seed=int(options["seed"]),
        )
        metrics.update(
            command="POST /train/two_stage", val_margin_mm=VAL_MARGIN_MM,
            data={"train": ["datastore", len(items) - n_val], "val": ["datastore", n_val],
                  "test": ["none", 0], "folder": "datastore"},
        )
        write_atomically(self.publish_path, lambda tmp: tmp.write_bytes((work / "weights.pt").read_bytes()))
        stem = self.publish_path.stem
        write_run_files(self.publish_path.parent, metrics, write_model_card, f"{stem}.json", f"{stem}.md")
        logger.info(f"2S-ICR refinement net published: {self.publish_path}")
        return {k: metrics[k] for k in ("steps", "iterations", "train_minutes", "best_step")} | {
            "val_score": (metrics["validation"] or {}).get("score")}
