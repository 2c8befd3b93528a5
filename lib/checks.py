"""Argument checks on masks and voxel spacing, shared by the metrics and the click simulators.

Each check raises ValueError naming the argument it rejects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

UNIT_SPACING = (1.0, 1.0, 1.0)


def as_mask(value: object, name: str) -> np.ndarray:
    """A 3D mask as a bool array (copy-free when it already is one).

    Args:
        value: an (X, Y, Z) array of bool, or of numbers that are all 0 or 1.
        name: the argument's name, for the message.

    Returns:
        (X, Y, Z) bool array.

    Raises:
        ValueError: ``value`` is not 3D, or holds values other than 0 and 1.
    """
    array = np.asarray(value)
    if array.ndim != 3:
        raise ValueError(f"{name} must be a 3D (X, Y, Z) mask, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
        raise ValueError(f"{name} must be a boolean or {{0, 1}} mask, got dtype {array.dtype} with other values")
    return array.astype(bool)


def as_mask_pair(
    first: object, second: object, names: tuple[str, str] = ("pred", "truth")
) -> tuple[np.ndarray, np.ndarray]:
    """Two 3D masks of one shape as bool arrays.

    Args:
        first: the first mask (by default the prediction).
        second: the second mask (by default the truth).
        names: the two arguments' names, for the message.

    Returns:
        The two (X, Y, Z) bool arrays.

    Raises:
        ValueError: naming the mask that is not one, or both when their shapes differ.
    """
    a, b = as_mask(first, names[0]), as_mask(second, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} shape {a.shape} differs from {names[1]} shape {b.shape}")
    return a, b


def as_spacing(
    value: Sequence[float] | None, name: str = "spacing", *, none_means_voxels: bool = False
) -> tuple[float, float, float]:
    """Voxel spacing in mm, (X, Y, Z): three finite numbers > 0.

    Args:
        value: three numbers in (X, Y, Z) order.
        name: the argument's name, for the message.
        none_means_voxels: accept None as (1, 1, 1), i.e. distances in voxels.

    Returns:
        The spacing as three floats.

    Raises:
        ValueError: not three finite positive numbers (None included, unless ``none_means_voxels``).
    """
    if value is None and none_means_voxels:
        return UNIT_SPACING
    try:
        values = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three positive numbers (mm, X Y Z order), got {value!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} must be three positive numbers (mm, X Y Z order), got {value!r}")
    return values  # type: ignore[return-value]
