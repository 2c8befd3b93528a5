"""DIN interactive segmentation: the infer task (3D, clicks, optional boxes).

Declared as MONAI Label's ``InferType.DEEPGROW``, ``dimension`` 3, label ``["gtv"]``, so the
stock Slicer extension's SmartEdit panel and OHIF's MONAI Label panel offer it among the
click models. Request params:

- ``foreground`` / ``background``: ``[[i, j, k], ...]`` voxel indices of the image as stored
  (DeepEdit style ``{"label": "gtv", "gtv": [[i, j, k]]}`` is read as foreground too);
- ``sigma``: ExpDT sigma in model voxels (CT 3 x 3 x 6 mm, STIR 2.4 x 2.4 x 7.5 mm), at most 64, one
  number or three in (X, Y, Z) order; default the trained (5, 5, 1), which is the paper's
  (z, y, x) = (1, 5, 5);
- ``gamma``: ExpDT value at a click (default the trained 1; at most 10);
- ``boxes``: ``[[[i0, j0, k0], [i1, j1, k1]], ...]`` two opposite inclusive voxel corners (in either order); inference runs
  inside them only and the answer is 0 elsewhere (the paper's DINs-box);
- ``use_cache``: false loads and pre-processes on every request (the plain MONAI Label way);
- ``click_window``: without boxes the network sees a window around the clicks
  (:func:`lib.din.predict.click_window`: the clicks' box and 72 x 72 x 48 mm around it in CT,
  whatever the study's size) and the answer is 0 outside it (default true); false: the whole
  volume, as the paper's DINs without a box.

The served weights say their model space (``"modality"``: CT, or MRI STIR for
``models/din_stir``); images are prepared in it. The answer is a {0, 1} label (1 = GTV) on the image's own grid. Flow, outside MONAI's
``Compose`` (which would wrap a ``ValueError``): clicks and params are parsed and checked
first (bad -> HTTP 422 naming what is wrong), then the image comes from the session cache
or is loaded (unreadable -> 415), then clicks and boxes are checked against its size (422).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from fastapi import HTTPException
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from infers.answer import AnswerTask, answer_in_box, network_time
from infers.errors import HttpErrors
from infers.request_files import ClickTaskBasics, cached_image
from lib.din.guides import GuideSettings
from lib.din.network import din_network
from lib.din.predict import CLICK_WINDOW_MARGIN, modality_of, parse_boxes, segment_prepared_box, settings_of
from lib.din.preprocess import ModelSpace, PreparedImage, model_space
from lib.interaction.clicks import parse_clicks
from lib.session_cache import SessionCache, shared_cache

LABEL = "gtv"


def foreground_keys(params: dict[str, Any]) -> tuple[str, ...]:
    """``"foreground"``, and DeepEdit style ``"gtv"`` when the request's label is the GTV."""
    return ("foreground", LABEL) if params.get("label") in (None, LABEL) else ("foreground",)


class Din(HttpErrors, AnswerTask, ClickTaskBasics, BasicInferTask):
    """Segment the GTV from foreground / background clicks (and optional boxes).

    Forward passes in float32: bfloat16 autocast is no faster for DIN's small instance-normed
    network (``benchmarks/precision.py``).

    Args:
        path: weights files; the last existing one is served (shipped, then server-trained).
        network: the network the weights go into; default :func:`lib.din.network.din_network`.
        cache: the cache of prepared images; default the process-wide one.
        use_cache: the default of the ``use_cache`` request flag.
        modality: the model space of weights that do not say theirs (the server's own
            checkpoints): that of the shipped weights they were trained from.
    """

    precision = "float32"

    def __init__(
        self,
        path: str | Sequence[str],
        network: torch.nn.Module | None = None,
        cache: SessionCache | None = None,
        use_cache: bool = True,
        description: str | None = None,
        modality: str = "ct",
    ):
        super().__init__(
            path=path,
            network=network if network is not None else din_network(),
            type=InferType.DEEPGROW,
            labels=[LABEL],
            dimension=3,
            description=description or "DIN: deep interactive network (ExpDT guides); click a GTV, optional boxes",
            config={"use_cache": use_cache, "sigma": None, "gamma": None, "click_window": True},
            load_strict=True,
        )
        self.cache = cache if cache is not None else shared_cache()
        self.default_modality = model_space(modality).modality
        self._settings: tuple[tuple[str, int], GuideSettings, ModelSpace] | None = None

    def _saved(self) -> tuple[GuideSettings, ModelSpace]:
        """Guide settings and model space saved with the served weights (read again only when the file changes)."""
        path = self.get_path()
        if not path:
            return GuideSettings(), model_space(self.default_modality)
        key = (path, os.stat(path).st_mtime_ns)
        if self._settings is None or self._settings[0] != key:
            self._settings = (key, settings_of(path), model_space(modality_of(path, self.default_modality)))
        return self._settings[1], self._settings[2]

    def settings(self) -> GuideSettings:
        """The guide settings saved with the served weights."""
        return self._saved()[0]

    def space(self) -> ModelSpace:
        """The model space of the served weights (CT unless they say otherwise)."""
        return self._saved()[1]

    def run_pre_transforms(self, data: dict[str, Any], transforms) -> dict[str, Any]:
        """Clicks and params checked, then the image in model space (cached), then against its size."""
        if self.get_path() is None:
            raise HTTPException(status_code=404, detail="model has no weights yet: train it with python -m lib.din.train")
        keys = foreground_keys(data)
        clicks = parse_clicks(data, foreground_keys=keys)
        if not clicks:
            raise ValueError("no clicks: give at least one foreground click as 'foreground': [[i, j, k]]")
        settings = self.settings().with_request(data.get("sigma"), data.get("gamma"))
        parse_boxes(data.get("boxes"), None)  # the form, before loading the image
        window = data.get("click_window", True)
        if not isinstance(window, bool):
            raise ValueError(f"click_window must be true or false, got {window!r}")
        prepared = self._prepared(data)
        data["clicks"] = parse_clicks(data, spatial_shape=prepared.input_shape, foreground_keys=keys)
        data["din_boxes"] = parse_boxes(data.get("boxes"), prepared.input_shape)
        data["din_settings"] = settings
        data["din_window"] = CLICK_WINDOW_MARGIN if window else None
        data["prepared"] = prepared
        return data

    def _prepared(self, data: dict[str, Any]) -> PreparedImage:
        """The request's image in model space, from the cache unless ``use_cache`` is false."""
        space = self.space()
        return cached_image(self.cache, data, space.cache_tag, space.prepare_file)

    def run_inferer(self, data: dict[str, Any], convert_to_batch=True, device="cuda") -> dict[str, Any]:
        network = self._get_network(device, data)
        prepared: PreparedImage = data.pop("prepared")
        with network_time(data, [network]):
            probability, box = segment_prepared_box(
                network, prepared, data["clicks"], data.pop("din_settings"), data.pop("din_boxes"), device,
                label_only=True, window_margin=data.pop("din_window"),
            )
        return answer_in_box(data, probability, box, prepared)
