"""Argument checks of the click simulators only; the mask and spacing checks are in :mod:`lib.checks`."""

from __future__ import annotations

import numpy as np


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
