"""Overlap and volume metrics of a predicted mask against the truth.

All take (X, Y, Z) bool or {0, 1} masks of one shape and return plain floats. Where a
ratio has no denominator, the value is the one a perfect result would have when its
numerator is 0 too, so an empty prediction of an empty truth scores perfectly:

- dice: both empty 1.0; one empty 0.0.
- voe: both empty 0.0; one empty 1.0.
- arvd: both empty 0.0; truth empty, prediction not: ``nan`` (undefined).
- sensitivity: truth empty 1.0 (nothing to find).
- specificity: truth filling the image 1.0 (no true background to keep).

``nan`` is the one value here that strict JSON lacks: a JSON writer should map it to null.
"""

from __future__ import annotations

import numpy as np
from monai.metrics import compute_dice

from lib.checks import as_mask_pair
from lib.metrics._monai import monai_batch


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice similarity coefficient 2|P & Q| / (|P| + |Q|), by MONAI's ``compute_dice``.

    Args:
        pred: (X, Y, Z) predicted mask P.
        truth: (X, Y, Z) true mask Q.

    Returns:
        In [0, 1]; 1.0 when both are empty, 0.0 when only one is.
    """
    p, t = as_mask_pair(pred, truth)
    if not p.any() and not t.any():
        return 1.0
    if not t.any():
        return 0.0  # MONAI gives nan for an empty truth (ignore_empty)
    return float(compute_dice(monai_batch(p), monai_batch(t), include_background=True)[0, 0])


def voe(pred: np.ndarray, truth: np.ndarray) -> float:
    """Volumetric overlap error 1 - |P & Q| / |P | Q| (DIN's VOE); 0.0 when both are empty."""
    p, t = as_mask_pair(pred, truth)
    union = int((p | t).sum())
    return 0.0 if union == 0 else 1.0 - int((p & t).sum()) / union


def arvd(pred: np.ndarray, truth: np.ndarray) -> float:
    """Absolute relative volume difference abs(|P| - |Q|) / |Q| (DIN's ARVD).

    Returns:
        >= 0; 0.0 when both are empty; ``nan`` when only the truth is (undefined).
    """
    p, t = as_mask_pair(pred, truth)
    n_p, n_t = int(p.sum()), int(t.sum())
    if n_t == 0:
        return 0.0 if n_p == 0 else float("nan")
    return abs(n_p - n_t) / n_t


def sensitivity(pred: np.ndarray, truth: np.ndarray) -> float:
    """|P & Q| / |Q|, the fraction of the truth found; 1.0 when the truth is empty."""
    p, t = as_mask_pair(pred, truth)
    n_t = int(t.sum())
    return 1.0 if n_t == 0 else int((p & t).sum()) / n_t


def specificity(pred: np.ndarray, truth: np.ndarray) -> float:
    """|~P & ~Q| / |~Q|, the fraction of true background kept; 1.0 when the truth fills the image."""
    p, t = as_mask_pair(pred, truth)
    n_background = int((~t).sum())
    return 1.0 if n_background == 0 else int((~p & ~t).sum()) / n_background


def voxels_changed(before: np.ndarray, after: np.ndarray) -> int:
    """How many voxels differ between two (X, Y, Z) predictions (2S-ICR's responsiveness)."""
    a, b = as_mask_pair(before, after, ("before", "after"))
    return int((a != b).sum())
