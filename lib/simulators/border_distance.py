"""DeepGrow / 2S-ICR simulated user: a click drawn in proportion to depth inside the errors.

Paper: ``papers/2s-icr_two-stage-interactive-click-refinement.txt`` (after DeepGrow/DeepEdit).
The error voxels are where the prediction and the truth differ; each gets its Euclidean
distance to the border of its error region; the distances, normalised to sum 1, are the
probabilities of a multinomial from which one voxel is drawn; the click's sign is the
truth at that voxel (positive on missed foreground, negative on false foreground).

Missed and false foreground are measured as separate regions: where the two touch, the
voxels on either side are on the border of their own region, not deep inside one joint
region (a user sees two errors there, not one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import distance_transform_edt

from lib.checks import as_mask_pair, as_spacing
from lib.interaction.clicks import Click
from lib.simulators._checks import as_generator, index_of


def border_depth(mask: np.ndarray, spacing: Sequence[float] | None = None) -> np.ndarray:
    """Euclidean distance of each voxel of ``mask`` to the nearest voxel outside it.

    The image edge counts as outside (the mask is padded with background), so every voxel
    of a non-empty mask gets a finite depth of at least one voxel's spacing.

    Args:
        mask: (X, Y, Z) bool.
        spacing: (X, Y, Z) mm per voxel; None for distances in voxels.

    Returns:
        (X, Y, Z) float64 depth in mm (or voxels), 0 outside the mask.
    """
    inner = (slice(1, -1),) * mask.ndim
    return distance_transform_edt(np.pad(mask, 1), sampling=as_spacing(spacing, none_means_voxels=True))[inner]


def error_depth(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float] | None = None) -> np.ndarray:
    """Depth of each error voxel in its own kind of error region (missed or false foreground).

    Args:
        pred, truth: (X, Y, Z) bool masks of one shape.
        spacing: (X, Y, Z) mm per voxel; None for voxels.

    Returns:
        (X, Y, Z) float64 depth, mm (or voxels); 0 where pred equals truth.
    """
    # The two kinds are disjoint, so the sum gives each error voxel its own region's depth.
    return border_depth(truth & ~pred, spacing) + border_depth(pred & ~truth, spacing)


def border_distance_click(
    pred: np.ndarray,
    truth: np.ndarray,
    rng: np.random.Generator,
    spacing: Sequence[float] | None = None,
) -> Click | None:
    """One simulated click of DeepGrow / 2S-ICR.

    Args:
        pred: (X, Y, Z) bool or {0, 1} current prediction.
        truth: (X, Y, Z) bool or {0, 1} ground truth, same shape.
        rng: the caller's generator; the only source of randomness (replayable).
        spacing: (X, Y, Z) mm per voxel for the distances; None measures in voxels.

    Returns:
        The click (voxel index (i, j, k), sign = truth there), or None when pred equals truth.

    Raises:
        ValueError: a bad mask, shape, rng or spacing, named in the message.
    """
    pred, truth = as_mask_pair(pred, truth)
    rng = as_generator(rng)
    as_spacing(spacing, none_means_voxels=True)
    errors = pred != truth
    if not errors.any():
        return None
    depth = error_depth(pred, truth, spacing)
    flat = np.flatnonzero(errors)
    weights = depth.ravel()[flat]
    choice = rng.choice(flat.size, p=weights / weights.sum())
    index = index_of(flat[choice], errors.shape)
    return Click(index, bool(truth[index]))
