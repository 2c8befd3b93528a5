"""2S-ICR (two-stage interactive click refinement): the infer task.

Declared as MONAI Label's ``InferType.DEEPEDIT`` (3D, label ``gtv``): a DeepEdit model is
what the stock Slicer extension and OHIF's MONAI Label panel offer both without clicks
(automatic) and with foreground / background clicks (SmartEdit). Clicks come as
``{"foreground": [[i, j, k], ...], "background": [...]}`` or DeepEdit style
``{"gtv": [[i, j, k]], "background": [...]}``, voxel indices of the image as stored; the
answer is a {0, 1} label (1 = GTV) on the image's own grid.

Algorithm 1 across requests: a request with no click answers stage 1's automatic label and
starts the session over; a request with clicks refines the session's LAST answer with ALL
its clicks (a client sends every click so far, as SmartEdit does). The server keeps each
session's last answer (:class:`lib.two_stage.engine.SessionState`, model space) keyed by
the MONAI Label session id when the request has one, else by the image file and the
client's ``client_id``; if the request uploads a label (``client.infer(..., label_in=...)``:
the label the user sees now, on the image's grid), that label is refined instead. Clicks
that do not extend the kept ones (a click removed, another user) restart from stage 1
with all the clicks. ``"reset": true`` forgets the session first.

Pre-processed images are kept in the session cache (:mod:`lib.session_cache`), so a new
click costs one refinement pass. Stage 1's answer of an image is computed once per image and
weights and shared by every session on it (the prefetch of a fetched image computes it), so
a new session's first click costs one refinement pass too. Bad clicks (malformed, outside the image) are HTTP 422
naming them (``infers.errors``); an unreadable image 415; missing weights 404.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from fastapi import HTTPException
from monai.data import MetaTensor
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask
from monailabel.utils.others.generic import strtobool

from infers.answer import AnswerTask, network_time
from infers.errors import HttpErrors
from infers.request_files import ClickTaskBasics, cached_image, uploaded_label
from lib.interaction.clicks import parse_clicks
from lib.precision import set_precision
from lib.session_cache import SessionCache, shared_cache
from lib.two_stage.engine import SessionState, TwoStageModel, next_answer
from lib.two_stage.network import refinement_unet
from lib.two_stage.preprocess import PreparedImage, prepare_file

LABEL = "gtv"
#: Sessions whose last answer the server keeps (least recently used leave first).
ANSWER_ENTRIES = 64
ANSWER_BYTES = 512 * 1024**2


class TwoStage(HttpErrors, AnswerTask, ClickTaskBasics, BasicInferTask):
    """Automatic GTV answer (no click) and click refinement of the last answer (Algorithm 1).

    Args:
        stage1: stage-1 weights files, one per ensemble member.
        refinement: refinement weights files: with ``ensemble`` one per member (those that exist
            are used); without, the last existing one is served (shipped, then server-trained).
        image_channels: 1 (CT) or 2 (CT + PET: the image must have both channels).
        ensemble: see ``refinement``.
        cache: the cache of prepared images; default the process-wide one.
        use_cache: the default of the ``use_cache`` request flag.
    """

    precision = "auto"  # the refinement members; stage 1 (a sliding window) stays float32

    def __init__(
        self,
        stage1: Sequence[str],
        refinement: Sequence[str],
        image_channels: int = 1,
        cache: SessionCache | None = None,
        use_cache: bool = True,
        description: str | None = None,
        ensemble: bool = False,
    ):
        super().__init__(
            path=list(refinement),
            network=refinement_unet(image_channels),
            type=InferType.DEEPEDIT,
            labels={LABEL: 1, "background": 0},
            dimension=3,
            description=description or "2S-ICR: automatic GTV, then each click refines the last answer",
            config={"use_cache": use_cache},
            load_strict=True,
        )
        self.stage1_paths = list(stage1)
        self.refinement_paths = list(refinement)
        self.ensemble = ensemble
        self.image_channels = image_channels
        self.cache = cache if cache is not None else shared_cache()
        self.answers: SessionCache = SessionCache(max_entries=ANSWER_ENTRIES, max_bytes=ANSWER_BYTES)
        self._model: tuple[tuple, TwoStageModel] | None = None
        self._lock = threading.Lock()

    def is_valid(self) -> bool:
        """Offered to clients only once refinement and stage-1 weights exist."""
        return self.get_path() is not None and all(os.path.exists(p) for p in self.stage1_paths)

    def model(self, device: str | torch.device = "cpu") -> TwoStageModel:
        """The two stages, reloaded when a weights file changes (the server's training publishes)."""
        members = [p for p in self.refinement_paths if os.path.exists(p)]
        members = members if self.ensemble else members[-1:]
        version = tuple((p, os.stat(p).st_mtime_ns) for p in [*self.stage1_paths, *members]) + (str(device),)
        with self._lock:
            if self._model is None or self._model[0] != version:
                self._model = (version, TwoStageModel.from_weights(self.stage1_paths, members, device))
                self.answers.clear()  # answers of other weights are not this model's
            for member in self._model[1].refinement:
                set_precision(member, self.precision or "float32", device)
            return self._model[1]

    def run_pre_transforms(self, data: dict[str, Any], transforms) -> dict[str, Any]:
        """Clicks checked, then the image in model space (cached), then clicks against its size."""
        if not self.is_valid():  # never answer with an untrained network
            raise HTTPException(status_code=404, detail="2S-ICR has no weights yet: train the refinement net "
                                "with python -m lib.two_stage.train (stage 1: python -m lib.segmentation.train)")
        keys = ("foreground", LABEL)
        parse_clicks(data, foreground_keys=keys)  # malformed clicks -> 422 before any loading
        prepared = self._prepared(data)
        data["clicks"] = parse_clicks(data, spatial_shape=prepared.input_shape, foreground_keys=keys)
        data["prepared"] = prepared
        data["previous"] = self._uploaded_label(data, prepared)
        return data

    def session_key(self, data: dict[str, Any]) -> tuple:
        """The key of the request's session: MONAI Label session id, else image file + client id."""
        session = data.get("session")
        if isinstance(session, dict) and session.get("session_id"):
            return ("two_stage", "session", str(session["session_id"]))
        path = data.get("image_path") or data.get("image")
        return ("two_stage", "image", os.path.realpath(str(path)), str(data.get("client_id", "")))

    def _uploaded_label(self, data: dict[str, Any], prepared: PreparedImage) -> np.ndarray | None:
        """(X, Y, Z) float {0, 1} label the request uploaded, or None; a structure name there
        (DeepEdit style) is no upload."""
        label = uploaded_label(data, prepared.input_shape, not_files=(LABEL, "background"))
        return None if label is None else label.astype(np.float32)

    def _prepared(self, data: dict[str, Any]) -> PreparedImage:
        """The request's image in model space, from the cache unless ``use_cache`` is false.
        A CT image given to the PET-CT model stays a 422 that names the channels."""
        return cached_image(
            self.cache, data, f"two_stage_{self.image_channels}ch", lambda path: prepare_file(path, self.image_channels),
            passes=lambda error: isinstance(error, ValueError) and "channel" in str(error),
        )

    def _image_start(self, data: dict[str, Any], model: TwoStageModel, prepared: PreparedImage) -> SessionState:
        """A new session's start on the request's image: stage 1's answer, y(0), computed once per image
        file and weights (kept with the sessions' answers; a request with ``use_cache`` false computes it)."""
        def start() -> SessionState:
            automatic = model.automatic(prepared.image)
            return SessionState(automatic, (), automatic)

        if not strtobool(str(data.get("use_cache", True))):
            return start()
        return self.answers.get_or_load(self._start_key(data), start)

    def _start_key(self, data: dict[str, Any]) -> tuple:
        """The key of the request's image start (stage 1's answer) among the kept answers."""
        path = os.path.realpath(str(data.get("image_path") or data.get("image")))
        version = self._model[0] if self._model is not None else None
        return ("two_stage", "stage1", path, os.stat(path).st_mtime_ns if os.path.exists(path) else 0, version)

    def _with_label(self, data: dict[str, Any], prepared: PreparedImage, state: SessionState,
                    before: SessionState | None) -> SessionState:
        """``state`` with its answer on the image grid (``label``): kept from a repeated request or
        stage 1's (resampled once per image), else updated in the refinement box from the label of
        the answer it refined (the session's last or stage 1's), else resampled whole."""
        if state.label is not None:
            return state
        start_key = self._start_key(data) if strtobool(str(data.get("use_cache", True))) else None
        start = self.answers.get(start_key) if start_key is not None else None
        if start is not None and state.answer is start.answer:  # a 0-click answer: stage 1's label
            if start.label is None:
                start = replace(start, label=prepared.to_input_label_boxes(start.answer.numpy()))
                self.answers.put(start_key, start)
            return replace(state, label=start.label)
        for base in (before, start):
            if base is not None and base.label is not None and state.base is base.answer and state.box is not None:
                return replace(state, label=prepared.to_input_label_update(state.answer.numpy(), base.label, state.box))
        return replace(state, label=prepared.to_input_label_boxes(state.answer.numpy()))

    def run_inferer(self, data: dict[str, Any], convert_to_batch=True, device="cuda") -> dict[str, Any]:
        device = device if torch.cuda.is_available() else "cpu"
        model = self.model(device)
        prepared: PreparedImage = data.pop("prepared")
        previous = data.pop("previous", None)
        key = self.session_key(data)
        if strtobool(str(data.get("reset", False))):
            self.answers.pop(key)
        before: SessionState | None = self.answers.get(key)
        with network_time(data, [*model.stage1, *model.refinement]):
            state = before if before is not None else self._image_start(data, model, prepared)
            state = next_answer(model, prepared, data["clicks"], state, previous)
        state = self._with_label(data, prepared, state, before)
        self.answers.put(key, state)
        mask, boxes = state.label  # type: ignore[misc]
        data["pred"] = MetaTensor(torch.from_numpy(mask.view(np.uint8)), affine=torch.as_tensor(prepared.input_affine))
        data["pred_boxes"] = boxes
        data["clicks_used"] = len(state.clicks)
        return data
