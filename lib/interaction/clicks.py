"""A click: a voxel of the image as stored on disk, and a sign.

Clients (MONAI Label's Slicer extension, OHIF) send clicks as voxel indices
``[i, j, k]`` of the image file (ITK order: i along the first stored axis), which
is also the (X, Y, Z) index order of arrays loaded by nibabel and MONAI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Click:
    """One click.

    Attributes:
        index: (i, j, k) voxel index in the input image's own index space.
        positive: True for a foreground click, False for a background one.
    """

    index: tuple[int, int, int]
    positive: bool


def _as_index(point: object, where: str, spatial_shape: Sequence[int] | None) -> tuple[int, int, int]:
    """Validate one ``[i, j, k]`` point; raise ValueError naming it."""
    if isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(point) != 3:
        raise ValueError(f"click {where} = {point!r} is not a point [i, j, k] of three numbers")
    values = []
    for v in point:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"click {where} = {list(point)!r} has a coordinate that is not a finite number")
        values.append(int(round(v)))
    if spatial_shape is not None:
        for axis, (v, n) in enumerate(zip(values, spatial_shape)):
            if not 0 <= v < n:
                raise ValueError(
                    f"click {where} = {list(point)!r} is outside the image: axis {axis} index {v} "
                    f"not in [0, {n - 1}] (image size {list(spatial_shape)})"
                )
    return values[0], values[1], values[2]


def _points(value: object, key: str, spatial_shape: Sequence[int] | None) -> list[tuple[int, int, int]]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"clicks '{key}' must be a list of [i, j, k] points, got {value!r}")
    return [_as_index(p, f"{key}[{n}]", spatial_shape) for n, p in enumerate(value)]


def parse_clicks(
    params: Mapping[str, object],
    spatial_shape: Sequence[int] | None = None,
    foreground_keys: Iterable[str] = ("foreground",),
) -> list[Click]:
    """Clicks from request params, in the order foreground then background.

    Accepts MONAI Label's ``{"foreground": [[i, j, k], ...], "background": [...]}`` and the
    DeepEdit style ``{"<label name>": [[i, j, k]], "background": [...]}``: every key in
    ``foreground_keys`` is read as foreground.

    Args:
        params: the request's params.
        spatial_shape: (X, Y, Z) size of the image; when given, clicks outside it are refused.
        foreground_keys: keys holding foreground clicks (``"foreground"`` and label names).

    Raises:
        ValueError: a malformed or out-of-image click, named in the message.
    """
    clicks = [
        Click(p, True)
        for key in dict.fromkeys(foreground_keys)
        if key in params
        for p in _points(params[key], key, spatial_shape)
    ]
    clicks += [Click(p, False) for p in _points(params.get("background"), "background", spatial_shape)]
    return clicks


def split_clicks(clicks: Iterable[Click]) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(foreground indices, background indices)."""
    clicks = list(clicks)
    return [c.index for c in clicks if c.positive], [c.index for c in clicks if not c.positive]
