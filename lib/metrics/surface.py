"""Surface-distance metrics in mm, by MONAI: HD95, average symmetric surface distance, surface Dice.

Surfaces are MONAI's: mask voxels with a 6-neighbour outside the mask (the image edge counts
as outside); distances are Euclidean between voxel centres, in mm with the given spacing.

Empty masks (MONAI would give nan or inf, and warn):

- both empty: distances 0.0, surface Dice 1.0 (nothing to disagree about);
- exactly one empty: distances are the diagonal of the image's field of view,
  :func:`image_diagonal_mm` (larger than any distance two voxels can have), surface Dice 0.0.
  The diagonal is finite, so results stay strict JSON and averages stay defined, while an
  empty answer still scores worse than any real one of the same image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

from lib.checks import as_mask_pair, as_spacing
from lib.metrics._monai import monai_batch


def image_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Length in mm of the diagonal of an (X, Y, Z) image's field of view, ``|shape * spacing|``."""
    return math.hypot(*(n * s for n, s in zip(shape, as_spacing(spacing))))


def _empty_distance(p: np.ndarray, t: np.ndarray, spacing: Sequence[float]) -> float | None:
    """The documented distance when a mask is empty, or None when both have voxels."""
    if not p.any() and not t.any():
        return 0.0
    if not p.any() or not t.any():
        return image_diagonal_mm(p.shape, spacing)
    return None


def hd95_mm(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> float:
    """Symmetric 95th-percentile Hausdorff distance between the surfaces, in mm.

    MONAI's ``compute_hausdorff_distance(percentile=95)``: the larger of the two directed
    95th percentiles (linear interpolation between distances).

    Args:
        pred: (X, Y, Z) bool or {0, 1} predicted mask.
        truth: (X, Y, Z) bool or {0, 1} true mask.
        spacing: (X, Y, Z) mm per voxel.

    Returns:
        mm; see the module docstring for empty masks.
    """
    p, t = as_mask_pair(pred, truth)
    spacing = as_spacing(spacing)
    empty = _empty_distance(p, t, spacing)
    if empty is not None:
        return empty
    hd = compute_hausdorff_distance(
        monai_batch(p), monai_batch(t), include_background=True, percentile=95, spacing=list(spacing)
    )
    return float(hd[0, 0])


def assd_mm(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> float:
    """Average symmetric surface distance, in mm.

    MONAI's ``compute_average_surface_distance(symmetric=True)``: the mean over the surface
    voxels of both masks of the distance to the other mask's surface.

    Args:
        pred, truth, spacing: as :func:`hd95_mm`.

    Returns:
        mm; see the module docstring for empty masks.
    """
    p, t = as_mask_pair(pred, truth)
    spacing = as_spacing(spacing)
    empty = _empty_distance(p, t, spacing)
    if empty is not None:
        return empty
    asd = compute_average_surface_distance(
        monai_batch(p), monai_batch(t), include_background=True, symmetric=True, spacing=list(spacing)
    )
    return float(asd[0, 0])


def surface_dice(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float], tolerance_mm: float = 1.0) -> float:
    """Surface Dice (normalised surface distance) at a tolerance, by MONAI's ``compute_surface_dice``.

    The fraction of the surface voxels of both masks that lie within ``tolerance_mm`` of the
    other mask's surface (voxel counts, not sub-voxel areas). 2S-ICR reports it at 1 mm.

    Args:
        pred, truth, spacing: as :func:`hd95_mm`.
        tolerance_mm: the distance, mm, within which a surface voxel counts as right (>= 0).

    Returns:
        In [0, 1]; 1.0 when both are empty, 0.0 when only one is.
    """
    p, t = as_mask_pair(pred, truth)
    spacing = as_spacing(spacing)
    if isinstance(tolerance_mm, bool) or not isinstance(tolerance_mm, Real) or not (
        math.isfinite(tolerance_mm) and tolerance_mm >= 0
    ):
        raise ValueError(f"tolerance_mm must be a number >= 0, got {tolerance_mm!r}")
    if not p.any() and not t.any():
        return 1.0
    if not p.any() or not t.any():
        return 0.0
    nsd = compute_surface_dice(
        monai_batch(p), monai_batch(t), [float(tolerance_mm)], include_background=True, spacing=list(spacing)
    )
    return float(nsd[0, 0])
