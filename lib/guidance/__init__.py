"""Guidance encodings: clicks as extra input channels (foreground channel 0, background channel 1).

Each method is a plain function on one point set, an array transform on
(image (C, X, Y, Z), clicks) -> (2, X, Y, Z), and a dictionary wrapper for MONAI ``Compose``:

- ExpDT (DIN): :func:`exp_distance_map`, :class:`ExpDistanceGuide`, :class:`ExpDistanceGuided`
- Gaussian click: :func:`gaussian_click_map`, :class:`GaussianGuide`, :class:`GaussianGuided`
- EDT: :func:`euclidean_distance_map`, :class:`EuclideanDistanceGuide`, :class:`EuclideanDistanceGuided`
- GDT: :func:`geodesic_distance_map`, :class:`GeodesicDistanceGuide`, :class:`GeodesicDistanceGuided`
- points/disks (DeepGrow): :func:`disk_map`, :class:`DiskGuide`, :class:`DiskGuided`

All per-axis values (sigma, spacing, radius) are in (X, Y, Z) = (i, j, k) order.
"""

from lib.guidance.base import ClickGuide, ClickGuided, clicks_from_data
from lib.guidance.disks import DiskGuide, DiskGuided, disk_map
from lib.guidance.encode import PointsEncoder, encode_clicks
from lib.guidance.euclidean import EuclideanDistanceGuide, EuclideanDistanceGuided, euclidean_distance_map
from lib.guidance.exp_distance import DIN_SIGMA_VOXELS, ExpDistanceGuide, ExpDistanceGuided, exp_distance_map
from lib.guidance.gaussian import GaussianGuide, GaussianGuided, gaussian_click_map
from lib.guidance.geodesic import GeodesicDistanceGuide, GeodesicDistanceGuided, geodesic_distance_map

__all__ = [
    "DIN_SIGMA_VOXELS",
    "ClickGuide",
    "ClickGuided",
    "DiskGuide",
    "DiskGuided",
    "EuclideanDistanceGuide",
    "EuclideanDistanceGuided",
    "ExpDistanceGuide",
    "ExpDistanceGuided",
    "GaussianGuide",
    "GaussianGuided",
    "GeodesicDistanceGuide",
    "GeodesicDistanceGuided",
    "PointsEncoder",
    "clicks_from_data",
    "disk_map",
    "encode_clicks",
    "euclidean_distance_map",
    "exp_distance_map",
    "gaussian_click_map",
    "geodesic_distance_map",
]
