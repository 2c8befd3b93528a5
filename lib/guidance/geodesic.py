"""Geodesic distance guide (GDT): the shortest path to the nearest click, paid more across edges.

Kept as an ablation option against DIN's ExpDT (guide = 'gdt'). The path cost is
computed by scikit-image's minimum-cost-path solver (``skimage.graph.MCP_Geometric``,
26-connected) over a cost per unit length of ``1 + edge_weight * |grad I|``: in a
homogeneous region the map is close to the Euclidean distance, and crossing a step
edge of height ``h`` adds about ``edge_weight * h`` to it (in voxels, or mm with a
spacing). Scale ``edge_weight`` to the image's intensities: e.g. about 10 for images
normalised to [0, 1].

GeodisTK (PyPI ``GeodisTK`` 0.1.7) was tried: its setup imports numpy without
declaring it, so it only builds with ``--no-build-isolation``, and it has had no
release since 2020. FastGeodis was not tried: it compiles a C++ extension against torch.
scikit-image is already a requirement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import NdarrayOrTensor
from monai.utils import convert_data_type
from skimage.graph import MCP_Geometric

from lib.guidance.base import ClickGuide, ClickGuided, check_units, image_spacing
from lib.guidance.checks import check_points, check_spatial_shape, non_negative_number, per_axis
from lib.guidance.encode import Point, PointsEncoder
from lib.guidance.euclidean import check_truncation, empty_distance


def edge_cost(image: np.ndarray, spacing: Sequence[float], edge_weight: float) -> np.ndarray:
    """Cost per unit length ``1 + edge_weight * |grad image|``, gradient per voxel or per mm.

    Args:
        image: (X, Y, Z) intensities.
        spacing: step along (X, Y, Z) in the units distances are measured in.
        edge_weight: >= 0; 0 gives path length alone (a 26-neighbour approximation of Euclidean distance).

    Returns:
        (X, Y, Z) float64 >= 1.
    """
    axes = [n for n in range(3) if image.shape[n] > 1]  # np.gradient needs 2 samples on an axis
    gradient = np.gradient(image.astype(np.float64), *(spacing[n] for n in axes), axis=axes)
    gradient = gradient if isinstance(gradient, list) else [gradient]
    return 1.0 + edge_weight * np.sqrt(sum(g**2 for g in gradient))


def geodesic_distance_map(
    image: np.ndarray,
    points: Sequence[Point],
    spacing: float | Sequence[float] | None = None,
    edge_weight: float = 1.0,
    max_distance: float | None = None,
    normalise: bool = False,
) -> np.ndarray:
    """Geodesic distance from every voxel to the nearest click, over ``image``.

    Args:
        image: (X, Y, Z) intensities the paths are measured over.
        points: voxel indices (i, j, k); may be empty.
        spacing: voxel size in mm along (X, Y, Z); None measures in voxels.
        edge_weight: distance added per unit of intensity crossed (>= 0).
        max_distance: clip distances at this value (same units as the map); None: no clip.
        normalise: divide by ``max_distance`` (needs it), giving values in [0, 1].

    Returns:
        (X, Y, Z) float32: 0 at a click. With no click every voxel gets ``max_distance``
        (1 when normalised) if set, else the length of the image diagonal, as the EDT guide
        does; a geodesic distance can exceed that, so set ``max_distance`` for a map that
        is always largest where no click is.

    Raises:
        ValueError: a bad image, spacing, edge_weight, max_distance or point, named.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be (X, Y, Z), got shape {image.shape}")
    shape = check_spatial_shape(image.shape)
    sampling = (1.0, 1.0, 1.0) if spacing is None else per_axis(spacing, "spacing")
    edge_weight = non_negative_number(edge_weight, "edge_weight")
    max_distance = check_truncation(max_distance, normalise)
    centres = check_points(points, shape)
    if len(centres) == 0:
        distance = np.full(shape, empty_distance(shape, sampling) if max_distance is None else max_distance)
    else:
        solver = MCP_Geometric(edge_cost(image, sampling, edge_weight), fully_connected=True, sampling=sampling)
        distance, _ = solver.find_costs([tuple(int(v) for v in c) for c in centres])
    if max_distance is not None:
        distance = np.minimum(distance, max_distance)
        if normalise:
            distance = distance / max_distance
    return np.asarray(distance, dtype=np.float32)


class GeodesicDistanceGuide(ClickGuide):
    """GDT guide as an array transform: (C, X, Y, Z) image + clicks -> (2, X, Y, Z).

    Args:
        channel: the image channel the paths are measured over.
        edge_weight: distance added per unit of intensity crossed (>= 0).
        units: ``"voxel"`` or ``"mm"`` (distances and ``max_distance``).
        spacing: voxel size in mm (X, Y, Z) for ``units="mm"``; None reads the image's affine.
        max_distance: clip value, in ``units``; None: no clip.
        normalise: divide by ``max_distance``.

    Raises:
        ValueError: a bad argument, named, with its value.
    """

    def __init__(
        self,
        channel: int = 0,
        edge_weight: float = 1.0,
        units: str = "voxel",
        spacing: float | Sequence[float] | None = None,
        max_distance: float | None = None,
        normalise: bool = False,
    ) -> None:
        if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
            raise ValueError(f"channel must be an int >= 0, got {channel!r}")
        self.channel = channel
        self.edge_weight = non_negative_number(edge_weight, "edge_weight")
        self.units = check_units(units, spacing)
        self.spacing = None if spacing is None else per_axis(spacing, "spacing")
        self.max_distance = check_truncation(max_distance, normalise)
        self.normalise = normalise

    def encoder_for(self, img: NdarrayOrTensor) -> PointsEncoder:
        if self.channel >= img.shape[0]:
            raise ValueError(f"channel {self.channel} is not in an image of {img.shape[0]} channels")
        spacing = None if self.units == "voxel" else (self.spacing or image_spacing(img))
        intensities = convert_data_type(img[self.channel], np.ndarray)[0]

        def encode(points: Sequence[Point], spatial_shape: Sequence[int]) -> np.ndarray:
            return geodesic_distance_map(
                intensities, points, spacing, self.edge_weight, self.max_distance, self.normalise
            )

        return encode


class GeodesicDistanceGuided(ClickGuided):
    """Dictionary wrapper of :class:`GeodesicDistanceGuide`.

    Args:
        channel, edge_weight, units, spacing, max_distance, normalise: as :class:`GeodesicDistanceGuide`.
        **keys: as :class:`~lib.guidance.base.ClickGuided`.
    """

    def __init__(
        self,
        channel: int = 0,
        edge_weight: float = 1.0,
        units: str = "voxel",
        spacing: float | Sequence[float] | None = None,
        max_distance: float | None = None,
        normalise: bool = False,
        **keys: object,
    ) -> None:
        guide = GeodesicDistanceGuide(channel, edge_weight, units, spacing, max_distance, normalise)
        super().__init__(guide, **keys)  # type: ignore[arg-type]
