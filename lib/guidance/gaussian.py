"""Gaussian-click guidance (the interactive-FCN paper, DeepGrow's origin).

Unit impulses at the clicks, smoothed with a Gaussian, then scaled so the maximum is 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import NdarrayOrTensor
from scipy.ndimage import gaussian_filter1d

from lib.guidance.base import ClickGuide, ClickGuided
from lib.guidance.checks import check_points, check_spatial_shape, per_axis
from lib.guidance.encode import Point, PointsEncoder


def gaussian_click_map(
    points: Sequence[Point],
    spatial_shape: Sequence[int],
    sigma: float | Sequence[float] = 2.0,
) -> np.ndarray:
    """Gaussian-smoothed click impulses, normalised to [0, 1].

    Args:
        points: voxel indices (i, j, k); may be empty. Repeated points count once.
        spatial_shape: (X, Y, Z) size in voxels.
        sigma: Gaussian sigma in voxels, per axis (X, Y, Z); the paper's is 2 px.

    Returns:
        (X, Y, Z) float32; maximum 1 when there is a click, all zeros when there is none.
        Outside the image counts as 0 (``mode="constant"``), so a click at the border
        is not doubled by reflection. The values of :func:`scipy.ndimage.gaussian_filter`
        (truncated at 4 sigma) on the impulses, computed only within each click's kernel: a few
        clicks on a large window cost their kernels, not three passes over the window.
    """
    shape = check_spatial_shape(spatial_shape)
    sigma = per_axis(sigma, "sigma")
    centres = check_points(points, shape)
    smooth = np.zeros(shape, dtype=np.float32)
    if len(centres) == 0:
        return smooth
    # gaussian_filter of the impulses, computed where it is not 0: with mode "constant" an impulse
    # gives the product of the per-axis kernels within their radius, and the filter is linear
    kernels = [_kernel(s) for s in sigma]
    for centre in np.unique(centres, axis=0):
        box, parts = [], []
        for c, n, k in zip(centre, shape, kernels):
            r = len(k) // 2
            low, high = max(c - r, 0), min(c + r + 1, n)
            box.append(slice(low, high))
            parts.append(k[low - c + r: high - c + r])
        smooth[tuple(box)] += np.einsum("i,j,k->ijk", *parts).astype(np.float32)
    return smooth / smooth.max()


def _kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy's 1D Gaussian kernel for ``sigma`` (odd length, radius ``int(truncate * sigma + 0.5)``),
    as :func:`scipy.ndimage.gaussian_filter1d` gives it for a unit impulse (``sigma`` > 0)."""
    radius = int(truncate * float(sigma) + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    return gaussian_filter1d(impulse, float(sigma), mode="constant", truncate=truncate)


class GaussianGuide(ClickGuide):
    """Gaussian-click guide as an array transform: (C, X, Y, Z) image + clicks -> (2, X, Y, Z).

    Args:
        sigma: Gaussian sigma in voxels, per axis (X, Y, Z). Default 2, as the paper.

    Raises:
        ValueError: a bad sigma, named, with its value.
    """

    def __init__(self, sigma: float | Sequence[float] = 2.0) -> None:
        self.sigma = per_axis(sigma, "sigma")

    def encoder_for(self, img: NdarrayOrTensor) -> PointsEncoder:
        def encode(points: Sequence[Point], spatial_shape: Sequence[int]) -> np.ndarray:
            return gaussian_click_map(points, spatial_shape, self.sigma)

        return encode


class GaussianGuided(ClickGuided):
    """Dictionary wrapper of :class:`GaussianGuide`.

    Args:
        sigma: as :class:`GaussianGuide`.
        **keys: as :class:`~lib.guidance.base.ClickGuided`.
    """

    def __init__(self, sigma: float | Sequence[float] = 2.0, **keys: object) -> None:
        super().__init__(GaussianGuide(sigma), **keys)  # type: ignore[arg-type]
