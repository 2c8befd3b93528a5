"""DIN's evaluation-time simulated user: one click at the centre of the largest error.

Paper: ``papers/din_deep-interactive-networks-expdt.txt``, section III-C, Eq. 7. The error
regions are the connected components of prediction XOR truth; the next click goes at the
centroid of the largest one, rounded to a voxel. When that voxel is outside the region (a
concave region: a U, a ring, a shell), the click goes to the point of the region's skeleton
nearest the centroid, so a positive click never lands in true background and vice versa.
Positive when the region is missed foreground, negative when it is false foreground.

Missed and false foreground are labelled apart (a region is one kind of error, never both),
which the paper's sign rule presumes. Deterministic: ties in size go to the region with the
lowest cc3d label, ties in distance to the skeleton voxel first in C order.
"""

from __future__ import annotations

from collections.abc import Sequence

import cc3d
import numpy as np
from skimage.morphology import skeletonize

from lib.checks import as_mask_pair, as_spacing
from lib.interaction.clicks import Click

MISSED, FALSE = 1, 2  # error kinds as labelled before connected components


def nearest_voxel(mask: np.ndarray, point: np.ndarray, spacing: Sequence[float]) -> tuple[int, int, int]:
    """The voxel of ``mask`` nearest ``point`` (Euclidean, in mm); the first in C order on ties.

    Args:
        mask: (X, Y, Z) bool, not empty.
        point: (3,) position in voxel units, (X, Y, Z).
        spacing: (X, Y, Z) mm per voxel.
    """
    voxels = np.argwhere(mask)
    distance = (((voxels - point) * np.asarray(spacing)) ** 2).sum(axis=1)
    i, j, k = voxels[int(np.argmin(distance))]
    return int(i), int(j), int(k)


def region_centre(region: np.ndarray, spacing: Sequence[float] | None = None) -> tuple[int, int, int]:
    """A voxel of ``region`` at its centre: the rounded centroid, else the nearest skeleton voxel.

    The skeleton is scikit-image's (Lee's 3D thinning). For a region that thins to nothing
    (it does not happen for connected regions in practice), the nearest voxel of the region
    itself is used instead.

    Args:
        region: (X, Y, Z) bool, one connected region, not empty.
        spacing: (X, Y, Z) mm per voxel for "nearest"; None measures in voxels.

    Returns:
        (i, j, k) voxel index inside ``region``.
    """
    voxels = np.argwhere(region)
    centroid = voxels.mean(axis=0)
    rounded = np.floor(centroid + 0.5).astype(int)  # round half up
    if region[tuple(rounded)]:
        return int(rounded[0]), int(rounded[1]), int(rounded[2])
    # Thin only the region's bounding box, padded so the skeleton can touch its sides.
    lo, hi = voxels.min(axis=0), voxels.max(axis=0) + 1
    crop = np.pad(region[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], 1)
    skeleton = skeletonize(crop).astype(bool)[1:-1, 1:-1, 1:-1]
    target = skeleton if skeleton.any() else crop[1:-1, 1:-1, 1:-1]
    i, j, k = nearest_voxel(target, centroid - lo, as_spacing(spacing, none_means_voxels=True))
    return int(i + lo[0]), int(j + lo[1]), int(k + lo[2])


def largest_error_region_click(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float] | None = None,
    connectivity: int = 26,
) -> Click | None:
    """The next click of DIN's evaluation user.

    Args:
        pred: (X, Y, Z) bool or {0, 1} current prediction.
        truth: (X, Y, Z) bool or {0, 1} ground truth, same shape.
        spacing: (X, Y, Z) mm per voxel, used only to find the nearest skeleton voxel;
            None measures in voxels.
        connectivity: 6, 18 or 26, the neighbourhood of the connected error regions.

    Returns:
        The click at the centre of the largest error region, or None when pred equals truth.

    Raises:
        ValueError: a bad mask, shape, spacing or connectivity, named in the message.
    """
    pred, truth = as_mask_pair(pred, truth)
    as_spacing(spacing, none_means_voxels=True)
    if connectivity not in (6, 18, 26):
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity!r}")
    kinds = np.zeros(truth.shape, dtype=np.uint8)
    kinds[truth & ~pred] = MISSED
    kinds[pred & ~truth] = FALSE
    if not kinds.any():
        return None
    labels = cc3d.connected_components(kinds, connectivity=connectivity)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # label 0 is the correct voxels
    region = labels == int(np.argmax(sizes))
    index = region_centre(region, spacing)
    return Click(index, bool(kinds[index] == MISSED))
