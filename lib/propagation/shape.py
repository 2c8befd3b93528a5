"""Shape-based propagation of slice edits: the edit's displacement carried to nearby slices.

The user redrew slice ``s`` of their label. What the edit says about slice ``t`` near it is
how the drawing moved the contour: the difference between the signed distance map of the
drawn slice and that of the label's slice before the edit. The request only carries the label
WITH the drawing, so the slice before the edit is estimated from the label itself: the mean
of the signed distance maps of the nearest unedited slice on each side. On slice ``t`` the
label's own signed distance map moves by that difference:

    phi_t' = phi_t + w_t * (phi_drawn_s - phi_before_s),    the new slice is phi_t' < 0,

with ``w_t`` = 1 between two edits (the two edits' differences interpolated linearly by
distance) and ``1 - d / (reach + 1)`` at ``d`` slices beyond the outermost edit on a side.
Signed distances are in mm (in-plane spacing), negative inside, clipped to
``+-clip_mm``: far from the drawing and the label nothing changes, so another structure
more than ``clip_mm`` away from the edit is never touched.

Not propagated: an edit that did not change the structure (its drawing agrees with the
estimated slice before, DSC >= :data:`UNCHANGED_DSC`: a structure the user left alone on a
slice where they redrew another), an edit whose drawn slice is empty, or whose nearest unedited slice on
either side is empty or beyond the volume (an edit at the structure's end: whether the user
added, extended or erased there, the label does not tell, so neither how the neighbours'
contours should move), and slices where the label is empty (a displacement moves a contour;
it does not create one).

Arrays are (X, Y, Z) on the image's grid; ``axis`` is the slice axis (2: Z).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import distance_transform_edt

#: Signed distances are clipped to this many mm: the farthest a contour can move.
CLIP_MM = 15.0
#: Slices beyond the outermost edit on a side that its displacement reaches (fading).
REACH_SLICES = 3
#: A drawn slice whose DSC with its estimated state before the edit is at least this was not
#: redrawn (the structure only continues its shape): it moves nothing.
UNCHANGED_DSC = 0.95


def signed_distance_mm(mask: np.ndarray, spacing: Sequence[float], clip_mm: float = CLIP_MM) -> np.ndarray:
    """2D signed distance (mm) to the mask's boundary: negative inside, clipped to +-clip_mm.

    Args:
        mask: (H, W) bool.
        spacing: mm per pixel along (H, W).
        clip_mm: the bound; an empty mask is ``+clip_mm`` everywhere.
    """
    if not mask.any():
        return np.full(mask.shape, clip_mm, np.float32)
    if mask.all():
        return np.full(mask.shape, -clip_mm, np.float32)
    outside = distance_transform_edt(~mask, sampling=spacing)
    inside = distance_transform_edt(mask, sampling=spacing)
    # half a voxel each way so that the boundary lies between the voxels, not on them
    distance = np.where(mask, -inside + 0.5 * min(spacing), outside - 0.5 * min(spacing))
    return np.clip(distance, -clip_mm, clip_mm).astype(np.float32)


def _plane(axis: int, index: int) -> tuple:
    where: list = [slice(None)] * 3
    where[axis] = index
    return tuple(where)


def before_edit(
    mask: np.ndarray, axis: int, s: int, edited: set[int], spacing2d, clip_mm: float = CLIP_MM
) -> np.ndarray | None:
    """Estimated signed distance of slice ``s`` before the edit: the mean over the nearest unedited
    slice on each side; None when one of them is empty or beyond the volume."""
    maps = []
    for step in (-1, 1):
        t = s + step
        while 0 <= t < mask.shape[axis] and t in edited:
            t += step
        if not (0 <= t < mask.shape[axis] and mask[_plane(axis, t)].any()):
            return None  # the edit is at the structure's end: what was there before is unknown
        maps.append(signed_distance_mm(mask[_plane(axis, t)], spacing2d, clip_mm))
    return np.mean(maps, axis=0)


def _dsc(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def redrawn(mask: np.ndarray, axis: int, slices: Sequence[int], spacing: Sequence[float]) -> bool:
    """Whether the user changed this structure on any edited slice: its drawing differs from the
    estimated slice before the edit (DSC < :data:`UNCHANGED_DSC`), or that estimate is unknown."""
    spacing2d = [float(v) for a, v in enumerate(spacing) if a != axis]
    edited = set(int(s) for s in slices)
    for s in edited:
        before = before_edit(mask, axis, s, edited, spacing2d)
        if before is None or _dsc(mask[_plane(axis, s)], before < 0) < UNCHANGED_DSC:
            return True
    return False


def edit_displacements(
    mask: np.ndarray, axis: int, slices: Sequence[int], spacing: Sequence[float], clip_mm: float = CLIP_MM
) -> dict[int, np.ndarray]:
    """Per propagatable edited slice, the signed distance difference drawn - before (mm, 2D).

    Args:
        mask: (X, Y, Z) bool, one structure of the user's label with the drawings in it.
        axis: the slice axis.
        slices: the edited slices.
        spacing: mm per voxel along (X, Y, Z).
    """
    spacing2d = [float(v) for a, v in enumerate(spacing) if a != axis]
    edited = set(int(s) for s in slices)
    out = {}
    for s in edited:
        drawn = mask[_plane(axis, s)]
        before = before_edit(mask, axis, s, edited, spacing2d, clip_mm)
        if not drawn.any() or before is None or _dsc(drawn, before < 0) >= UNCHANGED_DSC:
            continue
        out[s] = signed_distance_mm(drawn, spacing2d, clip_mm) - before
    return out


def slice_weights(t: int, edits: Sequence[int], reach: int) -> list[tuple[int, float]]:
    """(edit, weight) pairs that move slice ``t`` (see the module doc); empty when none reaches it."""
    below = [s for s in edits if s < t]
    above = [s for s in edits if s > t]
    if below and above:
        s1, s2 = max(below), min(above)
        return [(s1, (s2 - t) / (s2 - s1)), (s2, (t - s1) / (s2 - s1))]
    if not below and not above:
        return []
    s = max(below) if below else min(above)
    weight = 1.0 - abs(t - s) / (reach + 1)
    return [(s, weight)] if weight > 0 else []


def propagate_shape(
    mask: np.ndarray,
    axis: int,
    slices: Sequence[int],
    spacing: Sequence[float],
    reach: int = REACH_SLICES,
    clip_mm: float = CLIP_MM,
) -> np.ndarray:
    """(X, Y, Z) bool: ``mask`` with the edits' displacements carried to nearby slices.

    Args:
        mask: (X, Y, Z) bool, one structure of the user's label, the drawn slices in it.
        axis: the slice axis (0, 1, 2).
        slices: the edited slice indices (kept exactly as drawn).
        spacing: mm per voxel along (X, Y, Z).
        reach: slices beyond the outermost edit on each side that are moved (fading).
        clip_mm: signed-distance clip (how far a contour can move).
    """
    mask = np.asarray(mask, bool)
    displacements = edit_displacements(mask, axis, slices, spacing, clip_mm)
    out = mask.copy()
    if not displacements:
        return out
    spacing2d = [float(v) for a, v in enumerate(spacing) if a != axis]
    edited = set(int(s) for s in slices)
    for t in range(mask.shape[axis]):
        if t in edited or not mask[_plane(axis, t)].any():
            continue
        weights = slice_weights(t, sorted(displacements), reach)
        if not weights:
            continue
        phi = signed_distance_mm(mask[_plane(axis, t)], spacing2d, clip_mm)
        for s, w in weights:
            phi = phi + w * displacements[s]
        out[_plane(axis, t)] = phi < 0
    return out


__all__ = [
    "CLIP_MM", "REACH_SLICES", "UNCHANGED_DSC", "before_edit", "edit_displacements", "propagate_shape", "redrawn",
    "signed_distance_mm", "slice_weights",
]
