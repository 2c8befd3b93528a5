"""Strategies ``uncertainty``, ``random`` and ``first`` (``POST /activelearning/<name>``).

Every strategy skips images served to another client within ``busy_seconds`` (the
``/activelearning`` route records who got which image when). ``uncertainty`` answers from
the stored scores (``strategies.uncertainty_scoring``) of the served model's current
weights; without any it draws at random and says so in ``reason``. Params: ``client_id``,
``model`` (uncertainty: whose scores, default ``segmentation``).

Every call reads each candidate's stored info in place (:func:`stored_infos`), never a copy:
MONAI Label's ``get_image_info`` deep-copies an image's whole info, per-slice scores
included, which made a next-sample over 200 scored images cost ~0.2 s in copies alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.strategy import Strategy

from lib.active_learning.record import current_score, last_served
from lib.active_learning.select import BUSY_SECONDS, Choice, busy_images, choose_first, choose_random, choose_uncertain
from strategies.models import ServedModels


def stored_infos(datastore: Datastore, images: Sequence[str]) -> dict[str, Mapping]:
    """Image id -> its info as stored, to read only (a ``LocalDatastore``'s own dicts, not copies).

    Other datastores (DICOMweb) answer through ``get_image_info``. An id the datastore no
    longer holds reads as ``{}``. Writers replace an info's top-level values (MONAI Label's
    ``update_image_info``) or the whole index (a reload), so a reader holding these sees a
    consistent old or new value; callers must not modify them.
    """
    if isinstance(datastore, LocalDatastore):
        # LocalDatastore has no read-only accessor; its model is read as its own methods read it
        objects = datastore._datastore.objects
        return {image: objects[image].image.info if image in objects else {} for image in images}
    return {image: datastore.get_image_info(image) for image in images}


def _candidates(request, datastore: Datastore) -> tuple[list[str], dict, dict, set[str]]:
    """Unlabelled ids, their stored infos, when each was last served (and to whom), the busy ones."""
    images = datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels"))
    infos = stored_infos(datastore, images)
    served = {image: s for image, info in infos.items() if (s := last_served(info)) is not None}
    busy = busy_images(served, time.time(), request.get("client_id"), float(request.get("busy_seconds", BUSY_SECONDS)))
    return images, infos, served, busy


def _answer(choice: Choice | None, strategy: str, busy: set[str]) -> dict:
    if choice is None:
        return {}
    out = {"id": choice.image, "strategy": strategy, "reason": choice.reason, "busy_skipped": len(busy)}
    if choice.score is not None:
        out["score"] = choice.score
    if choice.weight is not None:
        out["weight"] = choice.weight
    return out


class UncertaintyStrategy(Strategy):
    """The free unlabelled image with the highest current uncertainty score."""

    def __init__(self, models: ServedModels, default_model: str = "segmentation"):
        super().__init__("Most uncertain unlabelled image (automatic model, test-time augmentation)")
        self.models, self.default_model, self._rng = models, default_model, np.random.default_rng()

    def __call__(self, request, datastore: Datastore):
        model = request.get("model", self.default_model)
        version = self.models.version(model)
        images, infos, _, busy = _candidates(request, datastore)
        scores = {image: current_score(info, model, version) for image, info in infos.items()}
        answer = _answer(choose_uncertain(images, scores, self._rng, busy), "uncertainty", busy)
        if answer:
            answer["model"], answer["model_version"] = model, version
            answer["unscored"] = sum(1 for image in images if scores[image] is None)
        return answer


class RandomStrategy(Strategy):
    """A free unlabelled image at random, weighted by time since last served (MONAI Label's bugs fixed)."""

    def __init__(self):
        super().__init__("Random unlabelled image (recently served ones less likely, busy ones skipped)")
        self._rng = np.random.default_rng()

    def __call__(self, request, datastore: Datastore):
        images, _, served, busy = _candidates(request, datastore)
        return _answer(choose_random(images, self._rng, busy, served, time.time()), "random", busy)


class FirstStrategy(Strategy):
    """The first free unlabelled image by id."""

    def __init__(self):
        super().__init__("First unlabelled image by id (busy ones skipped)")

    def __call__(self, request, datastore: Datastore):
        images, _, _, busy = _candidates(request, datastore)
        return _answer(choose_first(images, busy), "first", busy)
