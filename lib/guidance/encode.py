"""Clicks to a two-channel guidance volume: foreground in channel 0, background in channel 1.

Every guidance method (ExpDT, Gaussian, EDT, geodesic, disks) encodes one set of points
as one map; this file puts the foreground and background maps side by side, so all
methods agree on the channel order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from lib.guidance.checks import check_spatial_shape
from lib.interaction.clicks import Click, split_clicks

Point = tuple[int, int, int]


class PointsEncoder(Protocol):
    """Encodes one set of voxel indices as one map.

    Args:
        points: (i, j, k) voxel indices, in (X, Y, Z) order; may be empty.
        spatial_shape: (X, Y, Z) size of the map in voxels.

    Returns:
        (X, Y, Z) float32 map.
    """

    def __call__(self, points: Sequence[Point], spatial_shape: Sequence[int]) -> np.ndarray: ...


def encode_clicks(clicks: Iterable[Click], spatial_shape: Sequence[int], encoder: PointsEncoder) -> np.ndarray:
    """Foreground and background clicks as two guidance channels.

    Args:
        clicks: the clicks, voxel indices (i, j, k) of the image they will guide.
        spatial_shape: (X, Y, Z) size of that image in voxels.
        encoder: turns one set of points into one (X, Y, Z) map, e.g.
            ``functools.partial(exp_distance_map, sigma=(5, 5, 1))``.

    Returns:
        (2, X, Y, Z) float32: channel 0 from the positive clicks, channel 1 from the negative ones.
    """
    shape = check_spatial_shape(spatial_shape)
    foreground, background = split_clicks(clicks)
    return np.stack([encoder(foreground, shape), encoder(background, shape)]).astype(np.float32, copy=False)
