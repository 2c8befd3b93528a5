"""Slice suggestion: which slices an edit would help most (``POST /infer/slice_suggestion?output=json``).

Request: the image id; optionally the user's current label uploaded as the request's
``label`` file (as for ``slice_propagation``); params ``{"axis": a, "exclude": [i, ...],
"top": k}``: ``axis`` an image (IJK) axis 0..2, default the S-I-nearest one (from the
affine); ``exclude`` slices already edited; ``top`` (default 5) how many. Optional
``"structure"``: a label name (``gtv``, ``heart``) to rank for one structure only
(default both).

Answer (JSON only, no label file): ``{"axis": a, "slices": [{"index": i, "score": s}, ...],
"model_version": ..., "seconds": ...}``, best first; a slice's score
(``lib.active_learning.scores.suggestion_scores``) is the expected number of wrong voxels of
the label there under the automatic model's test-time-augmentation ensemble plus the label's
area change across the slice, in voxels (the uploaded label, else the model's own prediction).
The ensemble's probabilities of an image are kept in memory (a few images) for the next
request on it.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from typing import Any

from fastapi import HTTPException
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from infers.errors import HttpErrors
from infers.slice_propagation import read_label
from lib.active_learning.record import model_version
from lib.active_learning.scores import STRUCTURES, rank_slices, suggestion_scores, superior_inferior_axis
from lib.active_learning.uncertainty import DEFAULT_AUGMENTATIONS, uncertainty_maps
from lib.labels import LABELS
from lib.segmentation.network import segmentation_unet
from lib.session_cache import SessionCache, file_key

DEFAULT_TOP = 5


def parse_params(data: dict[str, Any], shape: tuple[int, ...], affine) -> tuple[int, list[int], int, tuple[int, ...]]:
    """(axis, exclude, top, structures) from the request; ValueError naming a bad one."""
    axis = data.get("axis")
    axis = superior_inferior_axis(affine) if axis is None else axis
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2 (image IJK axis), got {axis!r}")
    exclude = data.get("exclude") or []
    if not isinstance(exclude, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in exclude):
        raise ValueError(f"exclude must be a list of slice indices, got {exclude!r}")
    if any(not 0 <= i < shape[axis] for i in exclude):
        raise ValueError(f"exclude slices must be in 0..{shape[axis] - 1} along axis {axis}, got {exclude}")
    top = data.get("top", DEFAULT_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    structure = data.get("structure")
    if structure is not None and structure not in LABELS:
        raise ValueError(f"structure must be one of {sorted(LABELS)}, got {structure!r}")
    return int(axis), [int(i) for i in exclude], top, (LABELS[structure],) if structure else STRUCTURES


class _Suggestion(BasicInferTask):
    def __init__(self, path, network=None, cache: SessionCache | None = None):
        super().__init__(
            path=path, network=network if network is not None else segmentation_unet(), type=InferType.OTHERS,
            labels=dict(LABELS), dimension=3, load_strict=True,
            description="Next slice to check: slices ranked by the automatic model's expected errors and the "
                        "label's area change (JSON)",
        )
        self.cache = cache if cache is not None else SessionCache(4, 256 * 1024**2)

    def is_valid(self) -> bool:
        return self.get_path() is not None

    def pre_transforms(self, data=None) -> list:
        return []  # the ensemble loads and prepares the image itself

    def post_transforms(self, data=None) -> list:
        return []

    def __call__(self, request, callbacks=None):
        start = time.perf_counter()
        weights = self.get_path()
        if weights is None:
            raise HTTPException(status_code=404, detail="the automatic model has no weights yet")
        path = request.get("image")
        if not isinstance(path, str) or not os.path.exists(path):
            raise ValueError("the request must name a datastore image")
        version = model_version(weights)
        network = self._get_network("cpu", request)
        maps = self.cache.get_or_load((*file_key(path), version),
                                      lambda: uncertainty_maps({"unet": network}, path, DEFAULT_AUGMENTATIONS))
        shape = tuple(maps.probabilities.shape[1:])
        axis, exclude, top, structures = parse_params(request, shape, maps.affine)
        label_path = request.get("label")
        if isinstance(label_path, str) and os.path.exists(label_path):
            label, used = read_label(label_path, SimpleNamespace(input_shape=shape, input_affine=maps.affine)), True
        else:
            label, used = maps.label, False
        scores = suggestion_scores(maps.probabilities, label, axis, structures)
        return None, {
            "axis": axis, "slices": rank_slices(scores, exclude, top), "model_version": version,
            "seconds": time.perf_counter() - start, "label_used": used, "structures": list(structures),
        }


class SliceSuggestion(HttpErrors, _Suggestion):
    """The ``slice_suggestion`` infer task (see the module doc); bad params answer 422."""


__all__ = ["SliceSuggestion", "parse_params"]
