"""Argument checks shared by the metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def as_mask(value: object, name: str) -> np.ndarray:
    """``value`` as an (X, Y, Z) bool array; raise ValueError naming ``name`` if it is not a 3D mask."""
    array = np.asarray(value)
    if array.ndim != 3:
        raise ValueError(f"{name} must be a 3D (X, Y, Z) mask, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
        raise ValueError(f"{name} must be a boolean or {{0, 1}} mask, got dtype {array.dtype} with other values")
    return array.astype(bool)


def as_masks(first: object, second: object, names: tuple[str, str] = ("pred", "truth")) -> tuple[np.ndarray, np.ndarray]:
    """Two (X, Y, Z) bool masks of one shape; raise ValueError naming the bad one."""
    a, b = as_mask(first, names[0]), as_mask(second, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} shape {a.shape} differs from {names[1]} shape {b.shape}")
    return a, b


def as_spacing(value: Sequence[float], name: str = "spacing") -> tuple[float, float, float]:
    """Voxel spacing in mm, (X, Y, Z): three finite numbers > 0."""
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three positive numbers (mm, X Y Z order), got {value!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} must be three positive numbers (mm, X Y Z order), got {value!r}")
    return values  # type: ignore[return-value]
