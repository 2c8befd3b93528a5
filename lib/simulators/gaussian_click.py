"""Gaussian-click paper's simulated user: a click deep inside the larger kind of error.

Paper: ``papers/gaussian-click_interactive-fcn.txt`` (Sakinis et al.). The missed foreground
D+ = truth & ~pred and the false foreground D- = pred & ~truth each get a chamfer distance
field DD (distance of each error voxel to the border of its error region). A click location
is drawn with probability proportional to ``exp(DD) - 1`` inside the chosen kind of error:
a background click if the false area is larger than the missed area, else a foreground click.
The sharp exponential puts most clicks in the innermost part of the largest errors.

The paper simulates the FIRST click against an all-zero prediction: the caller passes
``pred = np.zeros_like(truth)``, so the first click is always a foreground click.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_cdt

from lib.checks import as_mask_pair
from lib.interaction.clicks import Click
from lib.simulators._checks import as_axis, as_generator, index_of

CHAMFER_METRICS = ("chessboard", "taxicab")


def chamfer_depth(mask: np.ndarray, slice_axis: int | None = None, metric: str = "chessboard") -> np.ndarray:
    """Chamfer distance of each voxel of ``mask`` to the border of its region, in voxels.

    The image edge counts as a border (the mask is padded with background), so every voxel
    of a non-empty mask gets a finite depth >= 1 and voxels outside the mask get 0.

    Args:
        mask: (X, Y, Z) bool.
        slice_axis: None for a 3D distance; 0, 1 or 2 for 2D distances within each slice
            across that axis (the paper works slice by slice: ``slice_axis=2``, axial).
        metric: ``"chessboard"`` (8/26-neighbour steps) or ``"taxicab"`` (4/6-neighbour steps).

    Returns:
        (X, Y, Z) int32 depth in voxel steps.
    """
    _check_options(slice_axis, metric)
    if slice_axis is None:
        return _padded_cdt(mask, metric)
    axis = int(slice_axis)
    slices = np.moveaxis(mask, axis, 0)
    depth = np.stack([_padded_cdt(s, metric) if s.any() else np.zeros(s.shape, np.int32) for s in slices])
    return np.moveaxis(depth, 0, axis)


def _check_options(slice_axis: int | None, metric: str) -> None:
    """Raise ValueError naming ``slice_axis`` or ``metric`` if it is not accepted."""
    if slice_axis is not None:
        as_axis(slice_axis, "slice_axis")
    if metric not in CHAMFER_METRICS:
        raise ValueError(f"metric must be one of {CHAMFER_METRICS}, got {metric!r}")


def _padded_cdt(mask: np.ndarray, metric: str) -> np.ndarray:
    """Chamfer distance inside ``mask`` with the array edge treated as outside."""
    inner = (slice(1, -1),) * mask.ndim
    return distance_transform_cdt(np.pad(mask, 1), metric=metric)[inner].astype(np.int32)


def exp_weights(depth: np.ndarray) -> np.ndarray:
    """Weights proportional to ``exp(depth) - 1``, computed without overflow.

    ``exp(d) - 1 = exp(m) * (exp(d - m) - exp(-m))`` with m = max(depth); the common factor
    exp(m) is dropped, so deep regions (depth in the hundreds) do not overflow.

    Args:
        depth: 1D depths >= 0 (voxels).

    Returns:
        1D float64 weights >= 0, not normalised; 0 where depth is 0 (and where a share
        would be below float precision, for depths hundreds of voxels apart).
    """
    top = float(depth.max())
    return np.exp(depth - top) - np.exp(-top)


def exp_chamfer_click(
    pred: np.ndarray,
    truth: np.ndarray,
    rng: np.random.Generator,
    slice_axis: int | None = None,
    metric: str = "chessboard",
) -> Click | None:
    """One simulated click of the Gaussian-click paper.

    Args:
        pred: (X, Y, Z) bool or {0, 1} current prediction; all zeros for the first click.
        truth: (X, Y, Z) bool or {0, 1} ground truth, same shape.
        rng: the caller's generator; the only source of randomness (replayable).
        slice_axis: None for 3D chamfer distances, or the slice axis for per-slice 2D ones.
        metric: chamfer metric, ``"chessboard"`` or ``"taxicab"``.

    Returns:
        The click (voxel index (i, j, k), sign), or None when pred equals truth.
        Negative (background) when |pred & ~truth| > |truth & ~pred|, else positive.

    Raises:
        ValueError: a bad mask, shape, rng, slice_axis or metric, named in the message.
    """
    pred, truth = as_mask_pair(pred, truth)
    rng = as_generator(rng)
    _check_options(slice_axis, metric)
    missed, false = truth & ~pred, pred & ~truth
    n_missed, n_false = int(missed.sum()), int(false.sum())
    if n_missed == 0 and n_false == 0:
        return None
    positive = n_false <= n_missed
    region = missed if positive else false
    depth = chamfer_depth(region, slice_axis, metric)
    flat = np.flatnonzero(region)
    weights = exp_weights(depth.ravel()[flat].astype(np.float64))
    choice = rng.choice(flat.size, p=weights / weights.sum())
    return Click(index_of(flat[choice], region.shape), positive)


@dataclass(frozen=True)
class GaussianClickSimulator:
    """:func:`exp_chamfer_click` with its parameters fixed: ``sim(pred, truth, rng)``.

    Attributes:
        slice_axis: None for 3D chamfer distances, or 0/1/2 for per-slice 2D ones.
        metric: ``"chessboard"`` or ``"taxicab"``.
    """

    slice_axis: int | None = None
    metric: str = "chessboard"

    def __post_init__(self) -> None:
        _check_options(self.slice_axis, self.metric)

    def __call__(self, pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> Click | None:
        """See :func:`exp_chamfer_click`."""
        return exp_chamfer_click(pred, truth, rng, self.slice_axis, self.metric)
