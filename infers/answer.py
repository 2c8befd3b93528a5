"""How every infer task of this app answers: one cheap label file and the time of each stage.

:class:`AnswerTask` is mixed into each ``BasicInferTask`` subclass (before it):

- ``writer``: the ``pred`` label, (X, Y, Z) on the image's grid, written once as uint8 by
  :func:`lib.imaging.label_file.write_label` (a ``.nii.gz`` at gzip level 1, the image's own
  suffix by default) instead of MONAI Label's ITK writer (a transposed copy, gzip level 6).
  The request's ``result_extension`` (``.nii.gz``, ``.nii``, ``.nrrd``), ``result_dtype``
  and ``result_compress`` (NRRD; OHIF's panel asks for an uncompressed uint8 ``.nrrd``) are
  honoured as MONAI Label's writer honours them. A task that knows where its answer is puts
  the boxes holding it in ``data["pred_boxes"]`` (i, j, k slices of the image grid): only they
  are read (a one-slice answer on a 512 x 512 x 160 study is not scanned whole).
- ``__call__``: the answer's JSON gets ``stages_ms`` beside MONAI Label's ``latencies``:
  ``prepare`` (request checks, image from the session cache or loaded, uploaded label read),
  ``network`` (the forward passes of the task's networks, timed by :func:`network_time`),
  ``post`` (the rest of the inference around them: guides, window cuts, resampling back to
  the image grid, local correction, threshold; and MONAI's post transforms), ``write`` (the
  label file) and ``total`` (the task's whole call). The four stages are consecutive parts
  of ``total``, stages rounded down and the total up to 0.1 ms, so they sum to at most it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import CallBackTypes
from monailabel.utils.others.generic import strtobool

from lib.imaging.boxes import Box, paste
from lib.imaging.label_file import suffix_of, write_label_temporary
from lib.precision import resolve, set_precision

STAGES = ("prepare", "network", "post", "write")
#: Where :func:`network_time` adds up the forward passes of a request (seconds).
NETWORK_KEY = "network_forward_s"


@contextmanager
def network_time(data: dict[str, Any], modules: Sequence[torch.nn.Module] = ()) -> Iterator[None]:
    """Add to ``data[NETWORK_KEY]`` the seconds the forward passes of ``modules`` take inside the block
    (this thread's calls only); with no ``modules``, the whole block is the network's."""
    if not modules:
        start = time.perf_counter()
        try:
            yield
        finally:
            data[NETWORK_KEY] = data.get(NETWORK_KEY, 0.0) + time.perf_counter() - start
        return
    thread, starts = threading.get_ident(), {}

    def before(module, args):
        if threading.get_ident() == thread:
            starts.setdefault(id(module), []).append(time.perf_counter())

    def after(module, args, output):
        if threading.get_ident() == thread and starts.get(id(module)):
            data[NETWORK_KEY] = data.get(NETWORK_KEY, 0.0) + time.perf_counter() - starts[id(module)].pop()

    hooks = [h for m in modules for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    data.setdefault(NETWORK_KEY, 0.0)
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def stage_times_ms(marks: dict[str, float], network_s: float | None) -> dict[str, float]:
    """``stages_ms`` from the clock at the call's start and at the end of each MONAI stage (seconds).

    Args:
        marks: ``start``, ``prepared`` (after the pre transforms), ``inferred`` (after the
            inferer), ``posted`` (after the post transforms), ``end`` (the answer written).
        network_s: the forward passes inside the inferer (:func:`network_time`); None: the
            whole inferer is the network's (MONAI's own inferer, e.g. a sliding window).
    """
    inferer = marks["inferred"] - marks["prepared"]
    network = inferer if network_s is None else min(network_s, inferer)
    seconds = {
        "prepare": marks["prepared"] - marks["start"],
        "network": network,
        "post": inferer - network + marks["posted"] - marks["inferred"],
        "write": marks["end"] - marks["posted"],
    }
    tenths = lambda v: round(v * 10_000, 6)  # noqa: E731  (tenths of a ms; float noise off before rounding)
    times = {k: math.floor(tenths(v)) / 10 for k, v in seconds.items()}
    times["total"] = math.ceil(tenths(marks["end"] - marks["start"])) / 10
    return times


class AnswerTask:
    """Mixin for ``BasicInferTask`` subclasses (see the module doc): cheap answer file, ``stages_ms``,
    and the number format of the task's forward passes.

    ``precision`` (:mod:`lib.precision`): None for a task whose forward passes do not go through
    :func:`lib.precision.forward` (float32 always: the automatic model's sliding window); a click
    task names its format: ``auto`` (bfloat16 autocast on a CPU with AMX, float32 otherwise)
    where the accuracy was measured the same in both formats and bfloat16 runs faster (README,
    "Number format"), ``float32`` where bfloat16 does not pay. ``--conf precision`` sets every
    click task's (:func:`set_task_precision`). ``/info`` names the format each task runs in.
    """

    precision: str | None = None

    def _get_network(self, device, data):
        network = super()._get_network(device, data)  # type: ignore[misc]
        if network is not None and self.precision is not None:
            set_precision(network, self.precision, device)
        return network

    def info(self) -> dict[str, Any]:
        info = super().info()  # type: ignore[misc]
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return {**info, "precision": resolve(self.precision or "float32", device)}

    def __call__(self, request, callbacks=None):
        theirs = dict(callbacks or {})
        request = {k: v for k, v in request.items() if k != NETWORK_KEY}  # only the server times the network
        marks = {"start": time.perf_counter()}
        network: list[float | None] = [None]

        def mark(kind, name):
            def callback(data):
                data = theirs[kind](data) if theirs.get(kind) else data
                marks[name] = time.perf_counter()
                if name == "inferred":
                    network[0] = data.pop(NETWORK_KEY, None)
                return data
            return callback

        ours = {CallBackTypes.PRE_TRANSFORMS: mark(CallBackTypes.PRE_TRANSFORMS, "prepared"),
                CallBackTypes.INFERER: mark(CallBackTypes.INFERER, "inferred"),
                CallBackTypes.POST_TRANSFORMS: mark(CallBackTypes.POST_TRANSFORMS, "posted")}
        result_file, result_json = super().__call__(request, {**theirs, **ours})  # type: ignore[misc]
        marks["end"] = time.perf_counter()
        if isinstance(result_json, dict) and "posted" in marks and result_file is not None:
            result_json["stages_ms"] = stage_times_ms(marks, network[0])
        return result_file, result_json

    def writer(self, data: dict[str, Any], extension=None, dtype=None):
        """The ``pred`` label written once (see the module doc); (file path, the ``result`` JSON)."""
        if getattr(self, "type", None) in (InferType.CLASSIFICATION, InferType.DETECTION):
            return super().writer(data, extension, dtype)  # type: ignore[misc]
        pred = data["pred"]
        label = pred.array if isinstance(pred, MetaTensor) else np.asarray(pred)
        label = label.reshape(label.shape[-3:]) if label.ndim > 3 and label.size == np.prod(label.shape[-3:]) else label
        meta = data.get("pred_meta_dict") or {}
        affine = meta.get("affine")
        if affine is None and isinstance(pred, MetaTensor):
            affine = pred.affine
        affine = np.asarray(affine.numpy() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)
        result = data.get("result", {})
        if not strtobool(str(data.get("result_write_to_file", True))):
            return label, result
        suffix = suffix_of(data.get("result_extension") or extension or data.get("image_path"))
        compress = strtobool(str(data.get("result_compress", False)))
        path = write_label_temporary(label, affine, suffix, data.get("result_dtype") or dtype or "uint8", compress,
                                     boxes=data.get("pred_boxes"))
        return path, result


def set_task_precision(task: Any, precision: str | None) -> None:
    """``--conf precision`` on one infer task (a click task: an :class:`AnswerTask` that names
    its format; others are left alone).

    Raises:
        ValueError: a format :mod:`lib.precision` does not know (named).
    """
    if precision is not None:
        resolve(precision)  # the name checked before any task keeps it
    if precision is None or not isinstance(task, AnswerTask) or task.precision is None:
        return
    task.precision = precision  # _get_network gives it to the network on every request


def answer_in_box(data: dict[str, Any], probability: np.ndarray, box: Box, prepared) -> dict[str, Any]:
    """``data`` with ``pred``, the {0, 1} label ``probability > 0.5`` on the image grid (``probability``
    holds ``box``; 0 elsewhere), and ``pred_boxes`` [box], so the writer reads only the box.
    ``prepared``: the request's image (a :class:`lib.imaging.prepare.PreparedImage`: ``input_shape``,
    ``input_affine``)."""
    label = paste(probability > 0.5, box, prepared.input_shape, np.uint8)
    data["pred"] = MetaTensor(torch.from_numpy(label), affine=torch.as_tensor(prepared.input_affine))
    data["pred_boxes"] = [box]
    return data


__all__ = ["NETWORK_KEY", "STAGES", "AnswerTask", "answer_in_box", "network_time", "set_task_precision", "stage_times_ms"]
