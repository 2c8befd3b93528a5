"""DIN's exponential distance guide (ExpDT).

``ExpDT(x, S) = max over clicks c in S of gamma * exp(-sum_d (x_d - c_d)^2 / (2 sigma_d^2))``.

Unlike Euclidean or geodesic maps its values do not depend on the image size: each click
only touches a box of +- ``truncate`` sigma around it, which is all this computes.

Sigma order: DIN's paper writes sigma as (z, y, x) = (1, 5, 5) voxels for thick-slice
MRI where z is the slice axis. Here every per-axis value is in (X, Y, Z) = (i, j, k)
order, so the default for data whose slice axis is Z (the third stored axis) is
(5, 5, 1). The paper's best setting (1.5, 6, 6) is (6, 6, 1.5) here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import NdarrayOrTensor

from lib.guidance.base import ClickGuide, ClickGuided, check_units, image_spacing
from lib.guidance.checks import check_points, check_spatial_shape, per_axis, positive_number, window
from lib.guidance.encode import Point, PointsEncoder

#: DIN's default sigma (z, y, x) = (1, 5, 5) voxels, in this project's (X, Y, Z) order.
DIN_SIGMA_VOXELS: tuple[float, float, float] = (5.0, 5.0, 1.0)


def exp_distance_map(
    points: Sequence[Point],
    spatial_shape: Sequence[int],
    sigma: float | Sequence[float] = DIN_SIGMA_VOXELS,
    gamma: float = 1.0,
    spacing: float | Sequence[float] | None = None,
    truncate: float = 4.0,
) -> np.ndarray:
    """ExpDT of one point set.

    Args:
        points: voxel indices (i, j, k); may be empty.
        spatial_shape: (X, Y, Z) size in voxels.
        sigma: per axis (X, Y, Z); in voxels when ``spacing`` is None, in mm when it is given.
        gamma: the value at a click (the map's maximum).
        spacing: voxel size in mm along (X, Y, Z); give it to state ``sigma`` in mm.
        truncate: each click is computed in a box of +- ``truncate`` sigma per axis and is 0
            outside it (where it would be below ``gamma * exp(-truncate**2 / 2)``).

    Returns:
        (X, Y, Z) float32 in [0, gamma]; all zeros when ``points`` is empty.

    Raises:
        ValueError: a bad sigma, gamma, spacing, truncate, shape or point, named.
    """
    shape = check_spatial_shape(spatial_shape)
    sigma_voxels = np.asarray(per_axis(sigma, "sigma"))
    if spacing is not None:
        sigma_voxels = sigma_voxels / np.asarray(per_axis(spacing, "spacing"))
    gamma = positive_number(gamma, "gamma")
    half_width = np.ceil(positive_number(truncate, "truncate") * sigma_voxels).astype(np.int64)
    result = np.zeros(shape, dtype=np.float32)
    for centre in check_points(points, shape):
        box = window(centre, half_width, shape)
        # exp of a sum is the product of per-axis exps: three 1D profiles, one outer product
        profiles = [
            np.exp(-((np.arange(s.start, s.stop) - c) ** 2) / (2.0 * sd**2))
            for s, c, sd in zip(box, centre, sigma_voxels)
        ]
        local = gamma * np.einsum("i,j,k->ijk", *profiles)
        np.maximum(result[box], local.astype(np.float32), out=result[box])
    return result


class ExpDistanceGuide(ClickGuide):
    """DIN's ExpDT guide as an array transform: (C, X, Y, Z) image + clicks -> (2, X, Y, Z).

    Args:
        sigma: per axis (X, Y, Z), in ``units``. Default (5, 5, 1) voxels = DIN's (z, y, x) = (1, 5, 5).
        gamma: the value at a click.
        units: ``"voxel"`` or ``"mm"``.
        spacing: voxel size in mm (X, Y, Z) for ``units="mm"``; None reads it from the
            image's affine (the image must then be a MetaTensor).
        truncate: half-width of each click's box, in sigmas.

    Raises:
        ValueError: a bad argument, named, with its value.
    """

    def __init__(
        self,
        sigma: float | Sequence[float] = DIN_SIGMA_VOXELS,
        gamma: float = 1.0,
        units: str = "voxel",
        spacing: float | Sequence[float] | None = None,
        truncate: float = 4.0,
    ) -> None:
        self.sigma = per_axis(sigma, "sigma")
        self.gamma = positive_number(gamma, "gamma")
        self.units = check_units(units, spacing)
        self.spacing = None if spacing is None else per_axis(spacing, "spacing")
        self.truncate = positive_number(truncate, "truncate")

    def encoder_for(self, img: NdarrayOrTensor) -> PointsEncoder:
        spacing = None if self.units == "voxel" else (self.spacing or image_spacing(img))

        def encode(points: Sequence[Point], spatial_shape: Sequence[int]) -> np.ndarray:
            return exp_distance_map(points, spatial_shape, self.sigma, self.gamma, spacing, self.truncate)

        return encode


class ExpDistanceGuided(ClickGuided):
    """Dictionary wrapper of :class:`ExpDistanceGuide`.

    Args:
        sigma, gamma, units, spacing, truncate: as :class:`ExpDistanceGuide`.
        **keys: ``image_key``, ``clicks_key``, ``foreground_key``, ``background_key``,
            ``guidance_key``, ``concat_to_image``, as :class:`~lib.guidance.base.ClickGuided`.
    """

    def __init__(
        self,
        sigma: float | Sequence[float] = DIN_SIGMA_VOXELS,
        gamma: float = 1.0,
        units: str = "voxel",
        spacing: float | Sequence[float] | None = None,
        truncate: float = 4.0,
        **keys: object,
    ) -> None:
        super().__init__(ExpDistanceGuide(sigma, gamma, units, spacing, truncate), **keys)  # type: ignore[arg-type]
