"""The one place where a bad request becomes an HTTP 4xx answer.

``lib`` raises ``ValueError`` naming what is wrong; every infer task mixes in
``HttpErrors``, which turns it into ``fastapi.HTTPException`` (422, or 415 for an image
that cannot be read). The server answers it and keeps running.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException


class UnreadableImageError(ValueError):
    """The image of a request could not be read or pre-processed."""


class HttpErrors:
    """Mixin for ``BasicInferTask`` subclasses: client errors leave as HTTP 4xx."""

    def __call__(self, request, callbacks=None):
        try:
            return super().__call__(request, callbacks)  # type: ignore[misc]
        except UnreadableImageError as error:
            raise HTTPException(status_code=415, detail=str(error)) from error
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error

    def run_pre_transforms(self, data: dict[str, Any], transforms):
        try:
            return super().run_pre_transforms(data, transforms)  # type: ignore[misc]
        except Exception as error:  # the reader's own error about the client's file, whatever its type
            name = data.get("image_path", data.get("image"))
            raise UnreadableImageError(f"cannot read image '{name}' as a 3D volume: {error}") from error
