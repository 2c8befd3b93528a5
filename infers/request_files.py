"""The files a click request brings: its image (prepared once, then from the session cache) and
an uploaded label. Shared by the click infer tasks (Gaussian click, DIN, 2S-ICR).

Errors about the client's files leave as :class:`infers.errors.UnreadableImageError` (415)
or ``ValueError`` (422) naming the file and what is wrong; :class:`infers.errors.HttpErrors`
turns them into the HTTP answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Hashable
from typing import Any, TypeVar

import nibabel as nib
import numpy as np
from monailabel.utils.others.generic import strtobool

from infers.errors import UnreadableImageError
from lib.session_cache import SessionCache, file_key

Prepared = TypeVar("Prepared")


def request_image_path(data: dict[str, Any]) -> str:
    """The request's image file (MONAI Label puts it under ``image_path`` or ``image``)."""
    path = data.get("image_path") or data.get("image")
    if not isinstance(path, str):
        raise UnreadableImageError(f"the request's image must be a file path, got {type(path).__name__}")
    return path


def cached_image(
    cache: SessionCache,
    data: dict[str, Any],
    tag: Hashable,
    load: Callable[[str], Prepared],
    passes: Callable[[Exception], bool] = lambda error: False,
) -> Prepared:
    """``load(path)`` of the request's image, from ``cache`` under ``file_key(path, tag)`` unless
    the request's ``use_cache`` is false (then loaded every time, the plain MONAI Label way).
    The answer's JSON says whether the prepared image was already there (``image_cached``).

    Raises:
        UnreadableImageError: the image cannot be read or prepared (its error unless ``passes`` it).
    """
    path = request_image_path(data)
    try:
        result = data.setdefault("result", {})
        if not strtobool(str(data.get("use_cache", True))):
            result["image_cached"] = False
            return load(path)
        key = file_key(path, tag)
        result["image_cached"] = key in cache
        return cache.get_or_load(key, lambda: load(path))
    except Exception as error:  # the reader's own error about the client's file, whatever its type
        if passes(error):
            raise
        raise UnreadableImageError(f"cannot read image '{path}' as a 3D volume: {error}") from error


def uploaded_label(
    data: dict[str, Any], shape: tuple[int, ...], not_files: Collection[str] = (), what: str = "label"
) -> np.ndarray | None:
    """(X, Y, Z) bool mask (non-zero voxels) of the label file the request uploaded, or None.

    MONAI Label puts an uploaded label's temporary path under ``"label"``; a name in
    ``not_files`` there (a DeepEdit-style structure name) is no upload.

    Args:
        data: the request.
        shape: (X, Y, Z) of the image's grid; the label must have it.
        not_files: values of ``"label"`` that name a structure, not a file.
        what: how errors name the label ("label", "previous label").

    Raises:
        ValueError: the file cannot be read, or has another shape.
    """
    path = data.get("label")
    if not isinstance(path, str) or path in not_files or not os.path.isfile(path):
        return None
    try:
        label = np.asarray(nib.load(path).dataobj)
    except Exception as error:  # the reader's own error about the client's file, whatever its type
        raise ValueError(f"cannot read the uploaded {what}: {error}") from error
    if label.ndim > 3 and all(n == 1 for n in label.shape[3:]):
        label = label.reshape(label.shape[:3])  # (X, Y, Z, 1), as some writers store a label
    if label.shape != tuple(shape):
        raise ValueError(f"the uploaded {what} has shape {label.shape}, the image {tuple(shape)}")
    return label != 0


class ClickTaskBasics:
    """Mixin for the click infer tasks: no MONAI pre/post transforms (the prepared image comes
    from the session cache in ``run_pre_transforms``), offered to clients only with weights."""

    def is_valid(self) -> bool:
        """Offered to clients only once weights exist (never an untrained network)."""
        return self.get_path() is not None  # type: ignore[attr-defined]

    def pre_transforms(self, data=None) -> list:
        return []

    def post_transforms(self, data=None) -> list:
        return []


__all__ = ["ClickTaskBasics", "cached_image", "request_image_path", "uploaded_label"]
