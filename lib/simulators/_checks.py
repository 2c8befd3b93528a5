"""Argument checks shared by the click simulators."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def as_mask(value: object, name: str) -> np.ndarray:
    """A boolean copy-free view of a 3D mask; raise ValueError naming ``name`` if it is not one.

    Args:
        value: an (X, Y, Z) array of bool, or of numbers that are all 0 or 1.
        name: the argument's name, for the message.

    Returns:
        (X, Y, Z) bool array.
    """
    array = np.asarray(value)
    if array.ndim != 3:
        raise ValueError(f"{name} must be a 3D (X, Y, Z) mask, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
        raise ValueError(f"{name} must be a boolean or {{0, 1}} mask, got dtype {array.dtype} with other values")
    return array.astype(bool)


def as_mask_pair(pred: object, truth: object) -> tuple[np.ndarray, np.ndarray]:
    """(pred, truth) as (X, Y, Z) bool arrays of one shape; raise ValueError naming the bad one."""
    p, t = as_mask(pred, "pred"), as_mask(truth, "truth")
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} differs from truth shape {t.shape}")
    return p, t


def as_spacing(value: Sequence[float] | None, name: str = "spacing") -> tuple[float, float, float]:
    """Voxel spacing in mm, (X, Y, Z); None means (1, 1, 1) (distances in voxels)."""
    if value is None:
        return 1.0, 1.0, 1.0
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three positive numbers (mm, X Y Z order), got {value!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} must be three positive numbers (mm, X Y Z order), got {value!r}")
    return values  # type: ignore[return-value]


def as_axis(value: object, name: str = "axis") -> int:
    """A spatial axis 0, 1 or 2 (X, Y, Z); raise ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= 2:
        raise ValueError(f"{name} must be 0, 1 or 2 (X, Y, Z), got {value!r}")
    return int(value)


def as_generator(value: object, name: str = "rng") -> np.random.Generator:
    """The caller's numpy Generator; a simulator never makes its own randomness."""
    if not isinstance(value, np.random.Generator):
        raise ValueError(f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)), got {value!r}")
    return value


def index_of(flat_index: int, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (i, j, k) voxel index, as plain ints, of a C-order flat index into an (X, Y, Z) array."""
    i, j, k = np.unravel_index(int(flat_index), shape)
    return int(i), int(j), int(k)
