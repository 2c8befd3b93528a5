"""Slice-edit propagation: the infer task (one edited slice corrects the whole 3D contour).

Request (``POST /infer/slice_propagation?image=<id>``, multipart):

- ``label``: the user's current label on the image's grid (NIfTI / NRRD; GTV 1, heart 2),
  with the slices they redrew;
- ``params``: ``{"slices": [k, ...], "axis": 2}`` - the redrawn slices, in the order they
  were drawn (every one so far: the request is stateless), across image axis ``axis``
  (0, 1, 2 = i, j, k; default 2, axial for an axially stored image). Optional:
  ``"level"`` (1, 2, 3; default 2), ``"iterations"``, ``"lr"``, ``"optimiser"``
  (``"adam"`` / ``"lbfgs"``), ``"fusion"`` (default true), ``"correct"`` (default true;
  false: the network's updated answer always answers in the window, the paper's method),
  ``"classes"`` (the label values or names the user redrew, e.g. ``[1]`` or ``["gtv"]``; only
  these are moved; default: estimated from the label, which can take a structure that merely
  changes shape fast along the axis for a redrawn one).

Answer: the whole 3D label on the image's grid (uint8): the uploaded label, changed where the
edits give a reason (``lib/propagation/correct.py``), the edited slices exactly as drawn.
The JSON ``result`` (keys other programs, e.g. the Slicer module, read):

- ``path``: which path answered: ``"network"`` (the label is the network's own view: its
  updated answer), ``"correction"`` (the label moved by the edits' displacements and the
  network's confident changes near the edits) or ``"fallback"`` (a guard: the network's
  update did not fit an edit, or the label is the network's own but its answer had missed the
  drawn structure where the user drew, or the edits did not support its changes; the edits'
  displacements alone);
- ``why``: one sentence saying why that path;
- ``agreement``: the lowest per-class DSC between the uploaded label and the unedited
  network's answer in the window, outside the edited slices (null with ``"correct": false``);
- ``changes``: ``{"voxels_added", "voxels_removed", "slices_touched"}`` - voxels whose class
  the answer changed from the uploaded label (to a structure / from a structure) and the
  slice indices along ``axis`` where it changed anything;
- ``classes``: the classes the correction moved (empty on the network path) and
  ``classes_from``: ``"request"`` or ``"estimated"``;
- ``window``: the model-space box propagated; ``features_cached``: whether its features came
  from the cache; ``resumed_edits``: edits taken over from an earlier request;
- ``fusion``: whether the fusion module was used and which; ``level``: the decoder level;
- ``edits``: per edit the optimiser ``steps`` and the edited voxels' ``error_before`` and
  ``error_after`` (what the guard reads).

The network is the automatic model's, as served (shipped weights or the server's newest);
the fusion module is used only when it was trained for exactly those weights (its file
records their SHA-256), otherwise the direct update answers and ``result`` says so.
Features are kept in the session cache per image file, weights and window: a further edit
on the same image never re-runs the network's front.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import nibabel as nib
import numpy as np
import torch
from fastapi import HTTPException
from monai.data import MetaTensor
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from infers.answer import AnswerTask, network_time
from infers.errors import HttpErrors, UnreadableImageError
from lib.atomic import sha256_of
from lib.imaging.prepare import PreparedImage, prepare_file
from lib.labels import LABELS
from lib.propagation.correct import CorrectionSettings
from lib.propagation.engine import PropagationEngine, check_edits
from lib.propagation.fusion import FusionModule
from lib.propagation.split import LEVELS
from lib.propagation.train_fusion import load_fusion
from lib.propagation.update import OPTIMISERS, UpdateSettings
from lib.segmentation.network import segmentation_unet
from lib.session_cache import SessionCache, file_key, shared_cache

#: Largest distance (mm) between the label's and the image's voxel-to-world mappings.
GEOMETRY_TOLERANCE_MM = 0.01


def parse_settings(params: dict[str, Any], defaults: UpdateSettings) -> tuple[int, UpdateSettings, bool]:
    """(level, optimiser settings, use fusion) from request params; ValueError naming a bad one."""
    level = params.get("level", 2)
    if isinstance(level, bool) or level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
    iterations = params.get("iterations", defaults.iterations)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 0 <= iterations <= 200:
        raise ValueError(f"iterations must be an integer in 0..200, got {iterations!r}")
    optimiser = params.get("optimiser", defaults.optimiser)
    if optimiser not in OPTIMISERS:
        raise ValueError(f"optimiser must be one of {list(OPTIMISERS)}, got {optimiser!r}")
    lr = params.get("lr", defaults.lr)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 10:
        raise ValueError(f"lr must be a number in (0, 10], got {lr!r}")
    fusion = params.get("fusion", True)
    if not isinstance(fusion, bool):
        raise ValueError(f"fusion must be true or false, got {fusion!r}")
    return level, UpdateSettings(optimiser, iterations, float(lr), defaults.error_threshold), fusion


def parse_correct(params: dict[str, Any]) -> bool:
    """The request's ``correct`` flag (default true); ValueError for a non-boolean."""
    correct = params.get("correct", True)
    if not isinstance(correct, bool):
        raise ValueError(f"correct must be true or false, got {correct!r}")
    return correct


def parse_classes(params: dict[str, Any]) -> list[int] | None:
    """The request's ``classes`` as label values (names mapped through the app's labels), or None
    when absent; ValueError naming a bad entry (the values are checked by ``check_edits``)."""
    classes = params.get("classes")
    if classes is None:
        return None
    if not isinstance(classes, list):
        raise ValueError(f"classes must be a list of label values or names {dict(LABELS)}, got {classes!r}")
    values = []
    for entry in classes:
        if isinstance(entry, str):
            if entry not in LABELS:
                raise ValueError(f"class name {entry!r} is not one of this app's labels {sorted(LABELS)}")
            entry = LABELS[entry]
        values.append(entry)
    return values


def read_label(path: str, prepared: PreparedImage) -> np.ndarray:
    """The uploaded label as (X, Y, Z) on the image's grid; ValueError naming a mismatch."""
    try:
        image = nib.load(path)
        array = np.asarray(image.dataobj)
    except Exception as error:  # the reader's own error about the client's file
        raise ValueError(f"cannot read the uploaded label as NIfTI: {error}") from error
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.shape != tuple(prepared.input_shape):
        raise ValueError(f"label shape {list(array.shape)} differs from the image's {list(prepared.input_shape)}")
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in array.shape], [1], indexing="ij")).reshape(4, -1)
    offset = np.abs(image.affine @ corners - prepared.input_affine @ corners)[:3].max()
    if offset > GEOMETRY_TOLERANCE_MM:
        raise ValueError(f"the label's geometry differs from the image's (corners {offset:.2f} mm apart)")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(np.mod(array, 1) != 0):
        raise ValueError("the label must hold non-negative integer class values")
    if array.max(initial=0) > max(LABELS.values()):
        raise ValueError(f"label values must be 0 or one of {dict(LABELS)}, found {int(array.max())}")
    return array.astype(np.uint8)


class SlicePropagation(HttpErrors, AnswerTask, BasicInferTask):
    """Propagate the user's slice edits through the automatic model (see the module doc).

    Args:
        path: the automatic model's weights files; the newest existing one is served.
        fusion_paths: ``{level: [fusion.pt, ...]}``, oldest first: the newest existing one
            trained for the served weights is used; without one, the direct update.
        network: the automatic model's network (default ``segmentation_unet()``).
        cache: prepared images and features; default the process-wide cache.
        settings: default optimiser settings (a request may override them).
        correction: how the answering path is chosen and the user's label corrected.
    """

    def __init__(
        self,
        path: str | Sequence[str],
        fusion_paths: dict[int, Sequence[str]] | None = None,
        network: torch.nn.Module | None = None,
        cache: SessionCache | None = None,
        settings: UpdateSettings = UpdateSettings(),
        description: str = "Slice-edit propagation: redraw slices, get the whole 3D label corrected",
        correction: CorrectionSettings = CorrectionSettings(),
    ):
        super().__init__(
            path=path,
            network=network if network is not None else segmentation_unet(),
            type=InferType.OTHERS,
            labels=dict(LABELS),
            dimension=3,
            description=description,
            load_strict=True,
        )
        self.fusion_paths = {level: list(paths) for level, paths in (fusion_paths or {}).items()}
        self.cache = cache if cache is not None else shared_cache()
        self.settings = settings
        self.correction = correction
        self._fusion: dict[tuple, tuple[FusionModule | None, str]] = {}

    def is_valid(self) -> bool:
        return self.get_path() is not None

    def pre_transforms(self, data=None) -> Sequence[Callable]:
        return []

    def post_transforms(self, data=None) -> Sequence[Callable]:
        return []

    def run_pre_transforms(self, data: dict[str, Any], transforms) -> dict[str, Any]:
        """Params, then the image (cached), then the uploaded label checked against it."""
        if self.get_path() is None:
            raise HTTPException(status_code=404, detail="the automatic model has no weights yet")
        level, settings, use_fusion = parse_settings(data, self.settings)
        correct = parse_correct(data)
        label_path = data.get("label")
        if not isinstance(label_path, str) or not os.path.exists(label_path):
            raise ValueError("upload the current label (with the edited slices) as the request's 'label' file")
        prepared, key = self._prepared(data)
        label = read_label(label_path, prepared)
        slices = data.get("slices")
        if slices is None:
            raise ValueError("params must name the edited slices: {\"slices\": [k, ...], \"axis\": 2}")
        data["edits"] = check_edits(label, slices, data.get("axis", 2), prepared.input_shape, parse_classes(data),
                                    set(LABELS.values()))
        data.update(prepared=prepared, image_key=key, level=level, settings=settings, use_fusion=use_fusion,
                    correct=correct)
        return data

    def _prepared(self, data: dict[str, Any]) -> tuple[PreparedImage, tuple]:
        path = data.get("image_path") or data.get("image")
        if not isinstance(path, str):
            raise UnreadableImageError(f"the request's image must be a file path, got {type(path).__name__}")
        try:
            key = file_key(path)
            return self.cache.get_or_load((*key, "model_space_3d"), lambda: prepare_file(path, 3)), key
        except Exception as error:  # the reader's own error about the client's file, whatever its type
            raise UnreadableImageError(f"cannot read image '{path}' as a 3D volume: {error}") from error

    def _fusion_for(self, level: int, weights: str) -> tuple[FusionModule | None, str]:
        """The newest fusion module for ``level`` trained for the served ``weights``, and which."""
        candidates = [p for p in reversed(self.fusion_paths.get(level, [])) if os.path.exists(p)]
        if not candidates:
            return None, f"off: no fusion module for level {level}"
        key = (level, weights, *((p, os.stat(p).st_mtime_ns) for p in [weights, *candidates]))
        if key not in self._fusion:
            base = sha256_of(weights)
            self._fusion[key] = (None, f"off: no fusion module was trained for the served weights {weights}")
            for path in candidates:
                module, meta = load_fusion(path)
                if meta.get("base_sha256") == base:
                    self._fusion[key] = (module, f"on: {path}")
                    break
        return self._fusion[key]

    def run_inferer(self, data: dict[str, Any], convert_to_batch=True, device="cuda") -> dict[str, Any]:
        network = self._get_network("cpu", data)
        weights = self.get_path()
        fusion, fusion_state = self._fusion_for(data["level"], weights) if data["use_fusion"] else (None, "off: asked")
        engine = PropagationEngine(
            network, data["level"], fusion, data["settings"], cache=self.cache,
            tag=(weights, os.stat(weights).st_mtime_ns), correction=self.correction if data["correct"] else None,
        )
        prepared: PreparedImage = data.pop("prepared")
        with network_time(data):  # the network's front (cached after the first edit) and the edits' update
            answer = engine.propagate(prepared, data.pop("edits"), key=data.pop("image_key"))
        data["pred"] = MetaTensor(torch.from_numpy(answer.label), affine=torch.as_tensor(prepared.input_affine))
        agreement = answer.choice.agreement
        data["result"] = {
            "path": answer.choice.path,
            "why": answer.choice.reason,
            "agreement": None if not np.isfinite(agreement) else round(float(agreement), 4),
            "changes": answer.changes,
            "classes": list(answer.classes),
            "classes_from": answer.classes_from,
            "window": [[b.start, b.stop] for b in answer.window],
            "features_cached": answer.features_cached,
            "resumed_edits": answer.resumed_edits,
            "fusion": fusion_state,
            "level": data["level"],
            "edits": [vars(r) for r in answer.reports],
        }
        data.pop("settings", None)
        return data


__all__ = ["SlicePropagation", "parse_classes", "parse_correct", "parse_settings", "read_label"]
