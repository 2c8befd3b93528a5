"""Boxes of a voxel grid: where an answer can be non-zero, so that work on a whole study is done on a box.

A box is three unit-step slices (i, j, k) of an (X, Y, Z) grid, always clipped to it. An answer
of a click task is 0 outside the box it was computed in; the tasks keep that box with it and
the label writer (:mod:`lib.imaging.label_file`) reads only it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Box = tuple[slice, slice, slice]
#: The box of nothing: an answer with no voxel to report.
EMPTY_BOX: Box = (slice(0, 0), slice(0, 0), slice(0, 0))


def full_box(shape: Sequence[int]) -> Box:
    """The box of the whole (X, Y, Z) grid."""
    return tuple(slice(0, int(n)) for n in shape)  # type: ignore[return-value]


def is_empty(box: Box) -> bool:
    """True when the box holds no voxel."""
    return any(b.stop <= b.start for b in box)


def mask_box(mask: np.ndarray, margin: int = 0) -> Box | None:
    """The bounding box of the True (or non-zero) voxels of an (X, Y, Z) ``mask``, grown by
    ``margin`` voxels per side and clipped to it; None when there is none."""
    along_k = np.flatnonzero(mask.any(axis=(0, 1)))
    if along_k.size == 0:
        return None
    inside = mask[:, :, along_k[0]: along_k[-1] + 1]
    along_i = np.flatnonzero(inside.any(axis=(1, 2)))
    along_j = np.flatnonzero(inside.any(axis=(0, 2)))
    low = np.array([along_i[0], along_j[0], along_k[0]]) - margin
    high = np.array([along_i[-1], along_j[-1], along_k[-1]]) + 1 + margin
    return clip_box(low, high, mask.shape)


def clip_box(low: Sequence[int], high: Sequence[int], shape: Sequence[int]) -> Box:
    """The box [low, high) per axis (voxels, high exclusive) clipped to an (X, Y, Z) grid of ``shape``."""
    return tuple(slice(int(max(a, 0)), int(min(b, n))) for a, b, n in zip(low, high, shape))  # type: ignore[return-value]


def around_points(points: Iterable[Sequence[int]], radius: Sequence[int], shape: Sequence[int]) -> Box | None:
    """The box of voxels within ``radius`` voxels (per axis) of any of ``points``, clipped; None for no point."""
    array = np.asarray(list(points), dtype=int).reshape(-1, 3)
    if len(array) == 0:
        return None
    reach = np.asarray(radius, dtype=int)
    return clip_box(array.min(axis=0) - reach, array.max(axis=0) + reach + 1, shape)


def union_box(boxes: Iterable[Box | None], shape: Sequence[int]) -> Box | None:
    """The smallest box holding every non-empty one of ``boxes`` (None entries skipped), clipped; None if none."""
    kept = [b for b in boxes if b is not None and not is_empty(b)]
    if not kept:
        return None
    low = [min(b[a].start for b in kept) for a in range(3)]
    high = [max(b[a].stop for b in kept) for a in range(3)]
    return clip_box(low, high, shape)


def intersect_box(a: Box, b: Box) -> Box | None:
    """The voxels two boxes share, as a box; None when they share none."""
    box = tuple(slice(max(x.start, y.start), min(x.stop, y.stop)) for x, y in zip(a, b))
    return None if is_empty(box) else box  # type: ignore[arg-type]


def shift_box(box: Box, origin: Sequence[int]) -> Box:
    """A box given in the coordinates of a crop starting at ``origin`` (voxels, X, Y, Z), in the
    whole grid's: the inverse of :func:`within`."""
    return tuple(slice(b.start + int(o), b.stop + int(o)) for b, o in zip(box, origin))  # type: ignore[return-value]


def cut_to_floor(values: np.ndarray, box: Box, floor: float) -> tuple[np.ndarray, Box]:
    """``values`` (the shape of ``box``, a box of a grid) cut to the box of those at or above
    ``floor``: ``(values there, that box)``, or an empty array and :data:`EMPTY_BOX` when none is."""
    found = mask_box(values >= floor)
    if found is None:
        return np.zeros((0, 0, 0), dtype=values.dtype), EMPTY_BOX
    return values[found], shift_box(found, [b.start for b in box])


def within(inner: Box, outer: Box) -> Box:
    """``inner`` (a box of the grid, inside ``outer``) in the coordinates of ``outer``'s box."""
    return tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer))  # type: ignore[return-value]


def paste(values: np.ndarray, box: Box, shape: Sequence[int], dtype: np.dtype | type | None = None) -> np.ndarray:
    """An (X, Y, Z) array of ``shape``: ``values`` (the box's shape) in ``box``, 0 elsewhere."""
    out = np.zeros(tuple(int(n) for n in shape), dtype=dtype or values.dtype)
    out[box] = values
    return out


__all__ = ["EMPTY_BOX", "Box", "around_points", "clip_box", "cut_to_floor", "full_box", "intersect_box", "is_empty",
           "mask_box", "paste", "shift_box", "union_box", "within"]
