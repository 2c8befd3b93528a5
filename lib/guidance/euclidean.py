"""Euclidean distance guide (EDT): the distance from each voxel to the nearest click.

Kept as an ablation option against DIN's ExpDT (guide = 'edt'). Unlike ExpDT, values
grow with the image size unless truncated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import NdarrayOrTensor
from scipy.ndimage import distance_transform_edt

from lib.guidance.base import ClickGuide, ClickGuided, check_units, image_spacing
from lib.guidance.checks import check_points, check_spatial_shape, per_axis, positive_number
from lib.guidance.encode import Point, PointsEncoder


def check_truncation(max_distance: float | None, normalise: bool) -> float | None:
    """``max_distance`` > 0 or None; ``normalise`` needs it. ValueError otherwise."""
    if max_distance is not None:
        max_distance = positive_number(max_distance, "max_distance")
    if normalise and max_distance is None:
        raise ValueError("normalise=True needs max_distance (the distance that maps to 1), got max_distance=None")
    return max_distance


def empty_distance(spatial_shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Length of the image diagonal between the centres of corner voxels, in the units of ``spacing``."""
    return float(np.linalg.norm((np.asarray(spatial_shape) - 1) * np.asarray(spacing)))


def euclidean_distance_map(
    points: Sequence[Point],
    spatial_shape: Sequence[int],
    spacing: float | Sequence[float] | None = None,
    max_distance: float | None = None,
    normalise: bool = False,
) -> np.ndarray:
    """Distance to the nearest click.

    Args:
        points: voxel indices (i, j, k); may be empty.
        spatial_shape: (X, Y, Z) size in voxels.
        spacing: voxel size in mm along (X, Y, Z); None measures in voxels.
        max_distance: clip distances at this value (same units as the map); None: no clip.
        normalise: divide by ``max_distance`` (needs it), giving values in [0, 1].

    Returns:
        (X, Y, Z) float32: 0 at a click, growing away from it (voxels, or mm with ``spacing``).
        With no click every voxel gets the farthest value the map can take: ``max_distance``
        (1 when normalised) if set, else the length of the image diagonal, which bounds the
        distance to any click inside the image.

    Raises:
        ValueError: a bad spacing, max_distance, shape or point; ``normalise`` without ``max_distance``.
    """
    shape = check_spatial_shape(spatial_shape)
    sampling = (1.0, 1.0, 1.0) if spacing is None else per_axis(spacing, "spacing")
    max_distance = check_truncation(max_distance, normalise)
    centres = check_points(points, shape)
    if len(centres) == 0:
        distance = np.full(shape, empty_distance(shape, sampling) if max_distance is None else max_distance)
    else:
        not_click = np.ones(shape, dtype=bool)
        not_click[tuple(centres.T)] = False
        distance = distance_transform_edt(not_click, sampling=sampling)
    if max_distance is not None:
        distance = np.minimum(distance, max_distance)
        if normalise:
            distance = distance / max_distance
    return distance.astype(np.float32)


class EuclideanDistanceGuide(ClickGuide):
    """EDT guide as an array transform: (C, X, Y, Z) image + clicks -> (2, X, Y, Z).

    Args:
        units: ``"voxel"`` or ``"mm"`` (distances and ``max_distance``).
        spacing: voxel size in mm (X, Y, Z) for ``units="mm"``; None reads the image's affine.
        max_distance: clip value, in ``units``; None: no clip.
        normalise: divide by ``max_distance``.

    Raises:
        ValueError: a bad argument, named, with its value.
    """

    def __init__(
        self,
        units: str = "voxel",
        spacing: float | Sequence[float] | None = None,
        max_distance: float | None = None,
        normalise: bool = False,
    ) -> None:
        self.units = check_units(units, spacing)
        self.spacing = None if spacing is None else per_axis(spacing, "spacing")
        self.max_distance = check_truncation(max_distance, normalise)
        self.normalise = normalise

    def encoder_for(self, img: NdarrayOrTensor) -> PointsEncoder:
        spacing = None if self.units == "voxel" else (self.spacing or image_spacing(img))

        def encode(points: Sequence[Point], spatial_shape: Sequence[int]) -> np.ndarray:
            return euclidean_distance_map(points, spatial_shape, spacing, self.max_distance, self.normalise)

        return encode


class EuclideanDistanceGuided(ClickGuided):
    """Dictionary wrapper of :class:`EuclideanDistanceGuide`.

    Args:
        units, spacing, max_distance, normalise: as :class:`EuclideanDistanceGuide`.
        **keys: as :class:`~lib.guidance.base.ClickGuided`.
    """

    def __init__(
        self,
        units: str = "voxel",
        spacing: float | Sequence[float] | None = None,
        max_distance: float | None = None,
        normalise: bool = False,
        **keys: object,
    ) -> None:
        guide = EuclideanDistanceGuide(units, spacing, max_distance, normalise)
        super().__init__(guide, **keys)  # type: ignore[arg-type]
