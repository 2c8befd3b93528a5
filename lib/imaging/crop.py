"""A box cut out of a volume, padded where the box leaves it (patch sampling, click regions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cut(volume: np.ndarray, start: Sequence[int], size: Sequence[int], fill: float) -> np.ndarray:
    """The (*size) box of an (X, Y, Z) volume starting at voxel ``start``; voxels outside it are ``fill``.

    Args:
        volume: the array, any number of axes (one ``start`` / ``size`` entry per axis).
        start: the box's first voxel per axis (may be negative or past the end).
        size: the box's extent per axis, voxels.
        fill: the value of the box's voxels that lie outside ``volume``.

    Returns:
        An array of shape ``size`` and ``volume``'s dtype.
    """
    out = np.full(tuple(size), fill, dtype=volume.dtype)
    source, target = [], []
    for s, n, total in zip(start, size, volume.shape):
        a, b = max(s, 0), min(s + n, total)
        source.append(slice(a, max(a, b)))
        target.append(slice(a - s, a - s + max(0, b - a)))
    out[tuple(target)] = volume[tuple(source)]
    return out
