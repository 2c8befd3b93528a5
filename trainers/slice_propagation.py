"""Train the slice-edit propagation fusion module from the server's labelled images.

``POST /train/slice_propagation`` runs :func:`lib.propagation.train_fusion.fit_fusion` on
the datastore's images that have a final label: the served automatic model stays frozen,
worst-slice edits are simulated against those labels, and the module is published
atomically to ``<model_dir>/slice_propagation_fusion.pt`` (with the SHA-256 of the base
weights it was trained for; the infer task ignores it for any other base weights).
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
from lib.propagation.train_fusion import fit_fusion, write_card
from lib.training import write_run_files

logger = logging.getLogger(__name__)


class FusionTrainer(TrainTask):
    """Trainer of the fusion module (see the module doc).

    Args:
        base_paths: the automatic model's weights files; the newest existing one is used.
        publish_path: where the trained module is published (the infer task reads it).
        config: defaults of ``level``, ``epochs``, ``minutes``, ``val_fraction`` (a request may override).
    """

    def __init__(self, base_paths: list[str], publish_path: str, config: dict[str, Any] | None = None):
        super().__init__("Fusion module of slice-edit propagation (base network frozen)")
        self.base_paths = list(base_paths)
        self.publish_path = Path(publish_path)
        self._config = {"level": 2, "epochs": 20, "minutes": 10.0, "val_fraction": 0.2, **(config or {})}

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def stats(self) -> dict[str, Any]:
        metrics = self.publish_path.with_suffix(".json")
        return json.loads(metrics.read_text()) if metrics.exists() else {}

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        options = {**self._config, **{k: v for k, v in request.items() if k in self._config}}
        weights = next((p for p in reversed(self.base_paths) if os.path.exists(p)), None)
        if weights is None:
            raise ValueError("the automatic model has no weights to propagate through")
        pairs = [(Path(d["image"]), Path(d["label"])) for d in datastore.datalist()]
        if len(pairs) < 2:
            raise ValueError(f"need at least 2 images with a final label to train, found {len(pairs)}")
        n_val = max(1, round(len(pairs) * float(options["val_fraction"])))
        out = self.publish_path.parent / f".{self.publish_path.stem}_work"
        metrics = fit_fusion(
            weights, pairs[:-n_val], pairs[-n_val:], out, level=int(options["level"]),
            epochs=int(options["epochs"]), minutes=float(options["minutes"]),
        )
        metrics["data"] = f"{len(pairs) - n_val} / {n_val} labelled datastore images (train / validation)"
        metrics["command"] = "POST /train/slice_propagation"
        write_atomically(self.publish_path, lambda tmp: tmp.write_bytes((out / "fusion.pt").read_bytes()))
        stem = self.publish_path.stem
        write_run_files(self.publish_path.parent, metrics, write_card, f"{stem}.json", f"{stem}.md")
        logger.info(f"fusion module published: {self.publish_path}")
        return {k: metrics[k] for k in ("best_val_loss", "untrained_val_loss", "train_minutes", "samples")}
