"""Segmentation metrics on (X, Y, Z) masks: MONAI's where it has them, the papers' others.

Callers pass plain numpy bool or {0, 1} masks and the spacing in mm, (X, Y, Z) order, and
get floats. Empty-mask conventions are documented in :mod:`lib.metrics.overlap` and
:mod:`lib.metrics.surface`.
"""

from lib.metrics.overlap import arvd, dice, sensitivity, specificity, voe, voxels_changed
from lib.metrics.summary import all_metrics
from lib.metrics.surface import assd_mm, hd95_mm, image_diagonal_mm, surface_dice

__all__ = [
    "all_metrics",
    "arvd",
    "assd_mm",
    "dice",
    "hd95_mm",
    "image_diagonal_mm",
    "sensitivity",
    "specificity",
    "surface_dice",
    "voe",
    "voxels_changed",
]
