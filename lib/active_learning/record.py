"""The stored score of an image: what goes into the datastore's image info, and reading it back.

Image info key ``"uncertainty"`` holds one record per model name::

    {"segmentation": {"score": 0.12, "model_version": "<sha256[:16]> of the weights",
                      "axis": 2, "slices": {"0": [...], "1": [...], "2": [...]},
                      "members": [...], "seconds": 9.8, "ts": 1764660000}}

``slices[a]`` are the expected wrong voxels (GTV + heart) per slice along image axis ``a``
(the ensemble's own prediction as the label); ``axis`` is the S-I-nearest one. A record
whose ``model_version`` differs from the served model's is stale: it reads as no score.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from lib.active_learning.scores import expected_dice_error, expected_errors, slice_scores, superior_inferior_axis
from lib.active_learning.uncertainty import UncertaintyMaps
from lib.atomic import sha256_of

INFO_KEY = "uncertainty"
_VERSIONS: dict[tuple, str] = {}


def model_version(weights: str | os.PathLike) -> str:
    """First 16 hex digits of the weights file's SHA-256 (cached by path, mtime and size)."""
    stat = os.stat(weights)
    key = (os.path.realpath(weights), stat.st_mtime_ns, stat.st_size)
    if key not in _VERSIONS:
        _VERSIONS[key] = sha256_of(weights)[:16]
    return _VERSIONS[key]


def score_record(maps: UncertaintyMaps, version: str, seconds: float) -> dict:
    """The record of one image scored with ``maps`` by the model of ``version``."""
    label = maps.label
    errors = expected_errors(maps.probabilities, label)
    return {
        "score": expected_dice_error(maps.probabilities, label),
        "model_version": version,
        "axis": superior_inferior_axis(maps.affine),
        "slices": {str(a): [round(float(v), 3) for v in slice_scores(errors, a)] for a in range(3)},
        "members": list(maps.members),
        "seconds": round(float(seconds), 3),
        "ts": int(time.time()),
    }


def current_record(info: Mapping, model: str, version: str | None) -> dict | None:
    """The image's record for ``model`` if it was made by ``version``; else None (missing or stale)."""
    record = (info.get(INFO_KEY) or {}).get(model)
    if not isinstance(record, dict) or version is None or record.get("model_version") != version:
        return None
    return record


def current_score(info: Mapping, model: str, version: str | None) -> float | None:
    """The image score of :func:`current_record`, or None."""
    record = current_record(info, model, version)
    return None if record is None else float(record["score"])


def last_served(info: Mapping) -> tuple[float, str | None] | None:
    """(unix time, client id) of the latest next-sample answer that gave this image, any strategy.

    MONAI Label's ``/activelearning`` route writes ``info["strategy"][<name>] = {"ts", "client_id"}``.
    """
    entries = [e for e in (info.get("strategy") or {}).values() if isinstance(e, dict) and "ts" in e]
    if not entries:
        return None
    latest = max(entries, key=lambda e: e["ts"])
    return float(latest["ts"]), latest.get("client_id")
