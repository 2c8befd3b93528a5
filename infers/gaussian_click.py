"""Gaussian-click interactive segmentation: the infer task (2D slice or 3D region model).

Declared as MONAI Label's ``InferType.DEEPGROW`` with ``dimension`` 2 or 3 and labels
``["gtv", "heart"]``: that is what the stock Slicer extension's SmartEdit panel lists under
"deepgrow" models (it reads ``type`` and ``dimension`` from ``/info``). The panel sends
``{"label": <segment name>, "foreground": [[i, j, k], ...], "background": [...]}`` in voxel
indices of the image; for a 2D model only the clicked slice's points, and it replaces that
slice of the segment with the answer. The answer is a {0, 1} label (1 = the clicked
structure) on the image's own grid.

Flow, outside any MONAI ``Compose`` (which would wrap a ``ValueError`` in ``RuntimeError``):
clicks are parsed and checked first (a malformed or empty list -> HTTP 422 naming it), then
the image comes from the session cache or is loaded (unreadable -> 415), then the clicks
are checked against the image size (outside -> 422 naming the click). The request flag
``"use_cache": false`` (or the task's config) loads and pre-processes on every request
instead, the plain MONAI Label way, for comparison.

The 3D model corrects locally (:mod:`lib.gaussian_click.local_correction`): each click that
contradicts the previous answer changes that answer only near itself. A DeepGrow request
carries only clicks, not in the order they were made, so the previous answer comes with the
request as MONAI Label's label upload (``client.infer(..., label_in=previous.nii.gz)``, any
non-zero voxel is the structure, on the image's grid; name the structure's clicks
``"foreground"`` then, as a ``"label"`` param would replace the upload's path); it needs no
click order, as the correction clicks are those the previous answer contradicts. Without
an upload (the stock SmartEdit panel sends none) the whole answer is the network's, with the
click labels and connected-component rules applied: the first answer of a session, as in
the harness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from fastapi import HTTPException
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from infers.answer import AnswerTask, answer_in_box, network_time
from infers.errors import HttpErrors
from infers.request_files import ClickTaskBasics, cached_image, uploaded_label
from lib.evaluation.protocol import spacing_of
from lib.gaussian_click.local_correction import correct_locally_in_box, lowest_read
from lib.gaussian_click.network import gaussian_click_net
from lib.gaussian_click.predict import segment_prepared_box
from lib.imaging.prepare import PreparedImage, prepare_file
from lib.interaction.clicks import parse_clicks
from lib.labels import LABELS
from lib.session_cache import SessionCache, shared_cache


def foreground_keys(params: dict[str, Any]) -> tuple[str, ...]:
    """Where foreground clicks are: ``"foreground"``, and DeepEdit style the key named by the
    request's ``label`` when it is one of ``LABELS`` (``{"label": "gtv", "gtv": [[i, j, k]]}``).
    Other labels' points in a DeepEdit request belong to other structures and are ignored."""
    label = params.get("label")
    return ("foreground", label) if isinstance(label, str) and label in LABELS else ("foreground",)


class GaussianClick(HttpErrors, AnswerTask, ClickTaskBasics, BasicInferTask):
    """Segment the clicked structure from foreground / background clicks.

    Args:
        path: weights files, the last existing one is served (shipped, then server-trained).
        dims: 2 (the clicked axial slice) or 3 (a region around the clicks).
        network: the network the weights go into; default ``gaussian_click_net(dims)``.
        cache: the cache of prepared images; default the process-wide one.
        use_cache: the default of the ``use_cache`` request flag.
    """


    def __init__(
        self,
        path: str | Sequence[str],
        dims: int = 2,
        network: torch.nn.Module | None = None,
        cache: SessionCache | None = None,
        use_cache: bool = True,
        description: str | None = None,
    ):
        super().__init__(
            path=path,
            network=network if network is not None else gaussian_click_net(dims),
            type=InferType.DEEPGROW,
            labels=list(LABELS),
            dimension=dims,
            description=description or f"Gaussian-click interactive model ({dims}D): click a GTV or organ",
            config={"use_cache": use_cache},
            load_strict=True,
        )
        self.dims = dims
        self.precision = "auto"  # bfloat16 on an AMX CPU: same accuracy, faster (README, "Number format")
        self.cache = cache if cache is not None else shared_cache()

    def run_pre_transforms(self, data: dict[str, Any], transforms) -> dict[str, Any]:
        """Clicks checked, then the image in model space (cached), then clicks against its size."""
        if self.get_path() is None:  # never answer with an untrained network
            raise HTTPException(
                status_code=404,
                detail=f"model has no weights yet: train it with python -m lib.gaussian_click.train --dims {self.dims}",
            )
        keys = foreground_keys(data)
        clicks = parse_clicks(data, foreground_keys=keys)
        if not clicks:
            raise ValueError("no clicks: give at least one foreground click as 'foreground': [[i, j, k]]")
        prepared = self._prepared(data)
        data["clicks"] = parse_clicks(data, spatial_shape=prepared.input_shape, foreground_keys=keys)
        data["prepared"] = prepared
        data["previous"] = self._previous(data, prepared)
        return data

    def _previous(self, data: dict[str, Any], prepared: PreparedImage) -> np.ndarray | None:
        """(X, Y, Z) bool previous answer the request uploaded as its label file, or None (3D only)."""
        if self.dims != 3:
            return None
        return uploaded_label(data, prepared.input_shape, not_files=LABELS, what="previous label")

    def _prepared(self, data: dict[str, Any]) -> PreparedImage:
        """The request's image in model space, from the cache unless ``use_cache`` is false."""
        return cached_image(self.cache, data, f"gaussian_click_{self.dims}d", lambda path: prepare_file(path, self.dims))

    def run_inferer(self, data: dict[str, Any], convert_to_batch=True, device="cuda") -> dict[str, Any]:
        network = self._get_network(device, data)
        prepared: PreparedImage = data.pop("prepared")
        previous = data.pop("previous", None)
        with network_time(data, [network]):
            floor = lowest_read(self.dims == 3)  # 3D answers are corrected locally
            probability, box = segment_prepared_box(network, prepared, data["clicks"], device=device, floor=floor)
        if self.dims == 3:
            probability, box = correct_locally_in_box(probability, box, prepared.input_shape, data["clicks"], previous,
                                                      spacing_of(prepared.input_affine))
        return answer_in_box(data, probability, box, prepared)

