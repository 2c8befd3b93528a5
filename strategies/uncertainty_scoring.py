"""Scoring method ``uncertainty`` (``POST /scoring/uncertainty``): score unlabelled images, store the scores.

Params (all optional): ``{"model": "segmentation" | "online", "images": [id, ...], "force": false,
"augmentations": [...]}`` (test-time augmentations, default the app's four; fewer is faster).
Default: every unlabelled image whose stored record is missing or stale (made by other
weights). Each record (``lib.active_learning.record``) is written into the image's info in
the datastore file under its lock, after re-reading that file: the scoring runs in MONAI
Label's separate scoring process, whose datastore copy is older than the server's, and a
plain ``update_image_info`` from there would write back that older copy over labels saved
meanwhile. That process runs at low CPU priority with one torch thread
(:mod:`strategies.background`), so clicks served meanwhile keep their cores.
"""

from __future__ import annotations

import logging
import os
import time

from filelock import FileLock
from monailabel.datastore.local import LocalDatastore, LocalDatastoreModel
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.scoring import ScoringMethod

from lib.active_learning.record import INFO_KEY, current_record, score_record
from lib.active_learning.uncertainty import DEFAULT_AUGMENTATIONS, check_augmentations, uncertainty_maps
from strategies.background import enter_background_priority, in_scoring_process
from strategies.models import ServedModels

logger = logging.getLogger(__name__)


def update_image_info_fresh(datastore: Datastore, image_id: str, info: dict) -> None:
    """``datastore.update_image_info`` on the file's current content (LocalDatastore: reload under its lock)."""
    if not isinstance(datastore, LocalDatastore):
        datastore.update_image_info(image_id, info)
        return
    # LocalDatastore keeps no public "reload and update atomically"; its lock and file are used as it uses them.
    with FileLock(datastore._lock_file):
        if os.path.exists(datastore._datastore_config_path):
            with open(datastore._datastore_config_path) as f:
                fresh = LocalDatastoreModel.model_validate_json(f.read())
            fresh.base_path = datastore._datastore_path
            datastore._datastore = fresh
        obj = datastore._datastore.objects.get(image_id)
        if obj is None:
            return  # removed meanwhile: nothing to score
        obj.image.info.update(info)
        datastore._update_datastore_file(lock=False)


class UncertaintyScoring(ScoringMethod):
    """Stores each unlabelled image's uncertainty score and slice scores (see the module doc)."""

    def __init__(self, models: ServedModels, augmentations=DEFAULT_AUGMENTATIONS, default_model: str = "segmentation"):
        super().__init__("Uncertainty of the automatic model (test-time augmentation): image and slice scores")
        self.models, self.augmentations, self.default_model = models, check_augmentations(augmentations), default_model

    def __call__(self, request, datastore: Datastore):
        if in_scoring_process():
            enter_background_priority()  # already done at app start; again in case the app was built otherwise
        model = request.get("model", self.default_model)
        version = self.models.version(model)
        if version is None:
            return {"model": model, "scored": [], "note": f"model {model!r} has no weights yet"}
        images = request.get("images") or datastore.get_unlabeled_images()
        force = bool(request.get("force", False))
        augmentations = check_augmentations(request.get("augmentations") or self.augmentations)
        network = self.models.network(model)
        scored, skipped, start = {}, 0, time.perf_counter()
        for image_id in images:
            info = datastore.get_image_info(image_id)
            if not info or (not force and current_record(info, model, version) is not None):
                skipped += 1
                continue
            t = time.perf_counter()
            maps = uncertainty_maps({model: network}, datastore.get_image_uri(image_id), augmentations)
            record = score_record(maps, version, time.perf_counter() - t)
            records = dict(datastore.get_image_info(image_id).get(INFO_KEY) or {})
            records[model] = record
            update_image_info_fresh(datastore, image_id, {INFO_KEY: records})
            scored[image_id] = record["score"]
            logger.info(f"uncertainty {model} {image_id}: {record['score']:.4f} in {record['seconds']:.1f} s")
        return {"model": model, "model_version": version, "scored": scored, "skipped": skipped,
                "seconds": time.perf_counter() - start}
