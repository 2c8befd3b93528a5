"""Argument checks shared by the guidance encodings; each raises ValueError naming the argument."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np


def per_axis(value: float | Sequence[float], name: str, *, allow_zero: bool = False) -> tuple[float, float, float]:
    """A scalar or three numbers as one finite value per axis (X, Y, Z).

    Args:
        value: a number (the same on every axis) or three numbers in (X, Y, Z) order.
        name: the argument's name, for the error message.
        allow_zero: accept 0 (otherwise values must be > 0).

    Raises:
        ValueError: not one or three finite numbers, or a value below the allowed minimum.
    """
    values = [value] * 3 if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        triple = tuple(float(v) for v in values)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or three numbers (X, Y, Z), got {value!r}") from None
    if len(triple) != 3 or not all(math.isfinite(v) for v in triple):
        raise ValueError(f"{name} must be a number or three finite numbers (X, Y, Z), got {value!r}")
    if any(v < 0 or (v == 0 and not allow_zero) for v in triple):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} on every axis, got {value!r}")
    return triple  # type: ignore[return-value]


def positive_number(value: float, name: str) -> float:
    """``value`` as a finite float > 0; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def non_negative_number(value: float, name: str) -> float:
    """``value`` as a finite float >= 0; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_spatial_shape(spatial_shape: Sequence[int]) -> tuple[int, int, int]:
    """``spatial_shape`` as three positive ints (X, Y, Z); ValueError otherwise."""
    shape = tuple(int(n) for n in spatial_shape)
    if len(shape) != 3 or any(n < 1 for n in shape):
        raise ValueError(f"spatial_shape must be three positive sizes (X, Y, Z), got {tuple(spatial_shape)!r}")
    return shape  # type: ignore[return-value]


def check_points(points: Iterable[Sequence[int]] | None, spatial_shape: Sequence[int]) -> np.ndarray:
    """Points as an (N, 3) int64 array of voxel indices (i, j, k) inside ``spatial_shape``.

    Raises:
        ValueError: a point that is not three whole numbers, or lies outside the image.
    """
    try:
        array = np.asarray(list(points or []), dtype=float).reshape(-1, 3)
    except (TypeError, ValueError):
        raise ValueError(f"points must be voxel indices (i, j, k), got {points!r}") from None
    if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise ValueError(f"points must be whole voxel indices (i, j, k), got {array.tolist()!r}")
    inside = np.all((array >= 0) & (array < np.asarray(spatial_shape)), axis=1)
    if not np.all(inside):
        raise ValueError(
            f"points {array[~inside].astype(int).tolist()!r} are outside the image of size {list(spatial_shape)!r}"
        )
    return array.astype(np.int64)


def window(centre: np.ndarray, half_width: np.ndarray, spatial_shape: Sequence[int]) -> tuple[slice, slice, slice]:
    """The box ``centre +- half_width`` (voxels, per axis) clipped to the image, as slices."""
    low = np.maximum(centre - half_width, 0)
    high = np.minimum(centre + half_width + 1, np.asarray(spatial_shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high))  # type: ignore[return-value]
