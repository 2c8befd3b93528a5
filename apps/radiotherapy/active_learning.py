"""Composition of active learning: strategies, the ``uncertainty`` scoring method, ``slice_suggestion``.

Scoring is bounded: MONAI Label's auto-update (every scoring method after every next-sample)
is off; :meth:`ActiveLearning.score_in_background` starts one ``uncertainty`` job in MONAI
Label's scoring process only when some unlabelled image lacks a current score and no scoring
job is running (never queued), so at most one job runs at a time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from monailabel.interfaces.datastore import Datastore

from infers.slice_suggestion import SliceSuggestion
from lib.active_learning.record import current_record
from lib.segmentation.network import segmentation_unet
from strategies.models import ServedModels
from strategies.next_image import FirstStrategy, RandomStrategy, UncertaintyStrategy, stored_infos
from strategies.uncertainty_scoring import UncertaintyScoring

logger = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO_ROOT / "models" / "segmentation" / "weights.pt"
SCORING = "uncertainty"


class ActiveLearning:
    """Args: model_dir: the app's model folder (server-trained weights); online: the online model is served."""

    def __init__(self, model_dir: str, online: bool = False) -> None:
        paths = {"segmentation": [str(SHIPPED_WEIGHTS), os.path.join(model_dir, "segmentation.pt")]}
        if online:
            paths["online"] = [os.path.join(model_dir, "online", "best.pt")]
        self.models = ServedModels(paths)
        self.segmentation_paths = paths["segmentation"]

    def strategies(self) -> dict:
        return {"uncertainty": UncertaintyStrategy(self.models), "random": RandomStrategy(), "first": FirstStrategy()}

    def scoring_methods(self) -> dict:
        return {SCORING: UncertaintyScoring(self.models)}

    def infers(self) -> dict:
        if not SHIPPED_WEIGHTS.exists():
            return {}
        return {"slice_suggestion": SliceSuggestion(self.segmentation_paths, segmentation_unet())}

    def needs_scoring(self, datastore: Datastore, model: str = "segmentation") -> bool:
        """Some unlabelled image has no current score of ``model``."""
        version = self.models.version(model)
        if version is None:
            return False
        infos = stored_infos(datastore, datastore.get_unlabeled_images())
        return any(current_record(info, model, version) is None for info in infos.values())

    def score_in_background(self, datastore: Datastore, reason: str) -> None:
        """Start one scoring job if needed and none runs (MONAI Label's task runner; not queued)."""
        from monailabel.utils.async_tasks.task import AsyncTask, processes

        try:
            if processes("scoring") or not self.needs_scoring(datastore):
                return
            logger.info(f"starting uncertainty scoring ({reason})")
            AsyncTask.run("scoring", request={"method": SCORING}, params={}, enqueue=False)
        except Exception as error:  # scoring is a background nicety: never fail the request that asked
            logger.warning(f"uncertainty scoring not started: {error}")
