"""What a user gets without propagation: the edited slices pasted in, or interpolated between.

- :func:`paste_edits`: the prediction with the structure on each edited slice replaced by
  the user's drawing.
- :func:`interpolate_edits`: morphological contour interpolation of the edited slices
  (ITK's ``MorphologicalContourInterpolator``, what 3D Slicer's "Fill between slices"
  effect runs): between the first and the last edited slice with the structure drawn on it,
  the structure is the interpolation; elsewhere the pasted prediction. With fewer than two
  such slices it equals the paste (an empty slice is not a contour to interpolate from).
"""

from __future__ import annotations

from collections.abc import Sequence

import itk
import numpy as np


def _plane(axis: int, index: int) -> tuple[slice | int, ...]:
    where: list[slice | int] = [slice(None)] * 3
    where[axis] = index
    return tuple(where)


def paste_edits(prediction: np.ndarray, drawn: np.ndarray, axis: int, slices: Sequence[int]) -> np.ndarray:
    """(X, Y, Z) bool: ``prediction`` with slices ``slices`` along ``axis`` taken from ``drawn``.

    Args:
        prediction: (X, Y, Z) bool mask of the structure.
        drawn: (X, Y, Z) bool mask holding the user's drawing on the edited slices.
        axis: the slice axis (0, 1, 2).
        slices: the edited slice indices.
    """
    out = np.array(prediction, dtype=bool)
    for s in slices:
        out[_plane(axis, s)] = drawn[_plane(axis, s)]
    return out


def interpolate_edits(prediction: np.ndarray, drawn: np.ndarray, axis: int, slices: Sequence[int]) -> np.ndarray:
    """(X, Y, Z) bool: the paste, with the span between edited slices interpolated (see the module doc)."""
    pasted = paste_edits(prediction, drawn, axis, slices)
    drawn_on = [s for s in slices if drawn[_plane(axis, s)].any()]  # the interpolator's labelled slices
    if len(drawn_on) < 2:
        return pasted
    sparse = np.zeros(pasted.shape, np.uint8)
    for s in drawn_on:
        sparse[_plane(axis, s)] = drawn[_plane(axis, s)]
    image = itk.image_from_array(np.ascontiguousarray(sparse.transpose(2, 1, 0)))  # ITK index (i, j, k) = (X, Y, Z)
    interpolator = itk.MorphologicalContourInterpolator.New(image)
    interpolator.SetAxis(axis)
    interpolator.SetLabel(1)
    interpolator.Update()
    filled = itk.array_from_image(interpolator.GetOutput()).transpose(2, 1, 0) > 0
    span = [slice(None)] * 3
    span[axis] = slice(min(drawn_on) + 1, max(drawn_on))
    out = pasted.copy()
    out[tuple(span)] = filled[tuple(span)]
    return paste_edits(out, drawn, axis, slices)  # edited slices exactly as drawn


__all__ = ["interpolate_edits", "paste_edits"]
