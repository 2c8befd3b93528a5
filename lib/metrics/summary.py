"""Every metric of one prediction at once, as the evaluation harness records it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lib.checks import as_mask_pair, as_spacing
from lib.metrics.overlap import arvd, dice, sensitivity, specificity, voe
from lib.metrics.surface import assd_mm, hd95_mm, surface_dice


def all_metrics(
    pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float], tolerance_mm: float = 1.0
) -> dict[str, float]:
    """All metrics of ``pred`` against ``truth``, as plain floats.

    Args:
        pred: (X, Y, Z) bool or {0, 1} predicted mask.
        truth: (X, Y, Z) bool or {0, 1} true mask.
        spacing: (X, Y, Z) mm per voxel.
        tolerance_mm: surface Dice tolerance, mm (2S-ICR: 1 mm).

    Returns:
        ``dice``, ``voe``, ``arvd``, ``sensitivity``, ``specificity`` (fractions),
        ``hd95_mm``, ``assd_mm`` (mm) and ``surface_dice`` (fraction at ``tolerance_mm``).
        Empty masks follow :mod:`lib.metrics.overlap` and :mod:`lib.metrics.surface`.
    """
    p, t = as_mask_pair(pred, truth)
    spacing = as_spacing(spacing)
    return {
        "dice": dice(p, t),
        "voe": voe(p, t),
        "arvd": arvd(p, t),
        "sensitivity": sensitivity(p, t),
        "specificity": specificity(p, t),
        "hd95_mm": hd95_mm(p, t, spacing),
        "assd_mm": assd_mm(p, t, spacing),
        "surface_dice": surface_dice(p, t, spacing, tolerance_mm),
    }
