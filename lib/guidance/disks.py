"""DeepGrow-style point/disk guidance: 1 inside a ball of given radius around each click, else 0."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import NdarrayOrTensor

from lib.guidance.base import ClickGuide, ClickGuided
from lib.guidance.checks import check_points, check_spatial_shape, per_axis, window
from lib.guidance.encode import Point, PointsEncoder


def disk_map(
    points: Sequence[Point],
    spatial_shape: Sequence[int],
    radius: float | Sequence[float] = 0.0,
) -> np.ndarray:
    """Balls (ellipsoids when the radius differs per axis) around the clicks.

    A voxel x is in the ball of click c when ``sum_d ((x_d - c_d) / r_d)^2 <= 1`` over the
    axes with ``r_d > 0``, and ``x_d == c_d`` on the axes with ``r_d == 0`` (so a radius
    (3, 3, 0) draws a flat disk in the click's Z slice and 0 draws the single voxel).

    Args:
        points: voxel indices (i, j, k); may be empty.
        spatial_shape: (X, Y, Z) size in voxels.
        radius: in voxels, per axis (X, Y, Z), >= 0.

    Returns:
        (X, Y, Z) float32 of 0 and 1; all zeros when there is no click.
    """
    shape = check_spatial_shape(spatial_shape)
    radii = np.asarray(per_axis(radius, "radius", allow_zero=True))
    result = np.zeros(shape, dtype=np.float32)
    half_width = np.floor(radii).astype(np.int64)
    for centre in check_points(points, shape):
        box = window(centre, half_width, shape)
        offsets = np.meshgrid(*(np.arange(s.start, s.stop) - c for s, c in zip(box, centre)), indexing="ij")
        # axes of radius 0 have a box of width 1, so their offset is 0 and adds nothing
        scaled = np.zeros(offsets[0].shape)
        for offset, r in zip(offsets, radii):
            if r > 0:
                scaled += (offset / r) ** 2
        result[box][scaled <= 1.0] = 1.0
    return result


class DiskGuide(ClickGuide):
    """Disk/point guide as an array transform: (C, X, Y, Z) image + clicks -> (2, X, Y, Z).

    Args:
        radius: in voxels, per axis (X, Y, Z); 0 gives single points.

    Raises:
        ValueError: a bad radius, named, with its value.
    """

    def __init__(self, radius: float | Sequence[float] = 0.0) -> None:
        self.radius = per_axis(radius, "radius", allow_zero=True)

    def encoder_for(self, img: NdarrayOrTensor) -> PointsEncoder:
        def encode(points: Sequence[Point], spatial_shape: Sequence[int]) -> np.ndarray:
            return disk_map(points, spatial_shape, self.radius)

        return encode


class DiskGuided(ClickGuided):
    """Dictionary wrapper of :class:`DiskGuide`.

    Args:
        radius: as :class:`DiskGuide`.
        **keys: as :class:`~lib.guidance.base.ClickGuided`.
    """

    def __init__(self, radius: float | Sequence[float] = 0.0, **keys: object) -> None:
        super().__init__(DiskGuide(radius), **keys)  # type: ignore[arg-type]
