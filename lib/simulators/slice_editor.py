"""Slice-edit propagation's simulated user: redraw the worst slice exactly.

Paper: ``papers/slice-propagation_3d-fused-context-propagation.txt``. The user edits the slice
whose predicted contour is farthest (largest Hausdorff distance, in mm) from the true one,
and the edit is the true slice. Several edits in a row: the next worst slice of the
prediction with the earlier edited slices replaced by the truth.

Per slice, the Hausdorff distance is between the two contours (mask voxels with a
4-neighbour outside the mask or at the image edge), measured in mm with the in-plane
spacing. A slice empty in one mask and not the other counts as infinitely far (worse than
any measured distance); slices empty in both, or equal, are never chosen. Ties go to the
slice with more wrong voxels, then to the lower index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt

from lib.checks import as_mask_pair, as_spacing
from lib.simulators._checks import as_axis


@dataclass(frozen=True, eq=False)
class SliceEdit:
    """One simulated slice edit.

    Attributes:
        axis: the slice axis of the volume (0, 1, 2 = X, Y, Z; 2 is axial).
        index: the slice's index along ``axis``.
        mask: 2D bool, the edited slice (the true one): ``truth.take(index, axis)``, its two
            axes the volume's other two in order (for axis 2: (X, Y)).
        hausdorff_mm: the prediction's Hausdorff distance on that slice before the edit,
            mm; ``inf`` when the prediction or the truth was empty there.
    """

    axis: int
    index: int
    mask: np.ndarray
    hausdorff_mm: float


def contour(mask: np.ndarray) -> np.ndarray:
    """The 2D mask's contour: its voxels with a 4-neighbour outside it or beyond the image edge."""
    return mask & ~binary_erosion(mask, border_value=0)


def slice_hausdorff_mm(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> float:
    """Symmetric Hausdorff distance between the contours of two 2D masks, in mm.

    Args:
        a, b: 2D bool masks of one shape.
        spacing: mm per pixel along the masks' two axes.

    Returns:
        0.0 when both are empty, ``inf`` when exactly one is, else the largest distance from
        a contour pixel of either mask to the nearest contour pixel of the other.
    """
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float("inf")
    # Work on the two masks' bounding box only, with a margin so the box edge stays outside.
    rows, cols = np.nonzero(a | b)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    edge_a, edge_b = np.pad(contour(a)[box], 1), np.pad(contour(b)[box], 1)
    to_b = distance_transform_edt(~edge_b, sampling=spacing)[edge_a].max()
    to_a = distance_transform_edt(~edge_a, sampling=spacing)[edge_b].max()
    return float(max(to_a, to_b))


def worst_slice(
    pred: np.ndarray, truth: np.ndarray, axis: int = 2, spacing: Sequence[float] | None = None
) -> SliceEdit | None:
    """The slice the simulated user edits: largest contour Hausdorff distance.

    Args:
        pred: (X, Y, Z) bool or {0, 1} prediction.
        truth: (X, Y, Z) bool or {0, 1} ground truth, same shape.
        axis: slice axis, 0, 1 or 2 (X, Y, Z); default 2 (axial).
        spacing: (X, Y, Z) mm per voxel; None measures in voxels.

    Returns:
        The edit, or None when no slice differs.

    Raises:
        ValueError: a bad mask, shape, axis or spacing, named in the message.
    """
    pred, truth = as_mask_pair(pred, truth)
    axis = as_axis(axis)
    in_plane = [s for a, s in enumerate(as_spacing(spacing, none_means_voxels=True)) if a != axis]
    best: tuple[float, int, int] | None = None  # (hausdorff, wrong voxels, -index)
    for index in range(truth.shape[axis]):
        p, t = pred.take(index, axis), truth.take(index, axis)
        wrong = int((p != t).sum())
        if wrong == 0:
            continue
        key = (slice_hausdorff_mm(p, t, in_plane), wrong, -index)
        if best is None or key > best:
            best = key
    if best is None:
        return None
    index = -best[2]
    return SliceEdit(axis, index, truth.take(index, axis).copy(), best[0])


def apply_edit(pred: np.ndarray, edit: SliceEdit) -> np.ndarray:
    """A copy of ``pred`` (X, Y, Z) with the edited slice pasted in (bool)."""
    edited = np.array(pred, dtype=bool)
    target = [slice(None)] * 3
    target[edit.axis] = edit.index
    edited[tuple(target)] = edit.mask
    return edited


def worst_slices(
    pred: np.ndarray, truth: np.ndarray, k: int, axis: int = 2, spacing: Sequence[float] | None = None
) -> list[SliceEdit]:
    """``k`` edits in a row, each the worst slice once the earlier edits are pasted in.

    The propagation model is not run between edits (that is the caller's business): the
    next worst slice is found on ``pred`` with the earlier edited slices replaced by truth.

    Args:
        pred, truth, axis, spacing: as :func:`worst_slice`.
        k: number of edits wanted, >= 0.

    Returns:
        Up to ``k`` edits, in order; fewer when no slice is left to fix.

    Raises:
        ValueError: as :func:`worst_slice`, or ``k`` not an integer >= 0.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    current, truth = as_mask_pair(pred, truth)
    edits: list[SliceEdit] = []
    for _ in range(k):
        edit = worst_slice(current, truth, axis, spacing)
        if edit is None:
            break
        edits.append(edit)
        current = apply_edit(current, edit)
    return edits
