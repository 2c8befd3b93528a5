"""Clicks follow the image through a method's spatial transforms, and come back.

A click is a voxel index (i, j, k) of the image as stored on disk. Transforms such as
MONAI's ``Orientationd``, ``Spacingd``, ``SpatialCropd``/``CropForegroundd`` and
``Resized`` move voxels but keep each one's world position, and they update
``MetaTensor.affine`` (voxel index -> world mm) to say so. So a click is mapped as

    original index --original affine--> world --inverse of current affine--> current index

and back the other way. ``LoadImaged`` keeps the file's affine in
``meta["original_affine"]`` and its size in ``meta["spatial_shape"]``, which is all the
way back needs. Both affines must be in the same world frame (MONAI's loaders give RAS
for both).

Positions are rounded to the nearest voxel, halves upward (``floor(x + 0.5)``). A click
whose rounded position falls outside the target image (e.g. outside a crop) is never
moved to the border: that would put a click where the user did not click and change the
result silently. It raises ValueError, or with ``outside="drop"`` is left out.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from lib.interaction.clicks import Click, parse_clicks

_OUTSIDE = ("raise", "drop")


def _affine(affine: Any, name: str) -> np.ndarray:
    """``affine`` as an invertible (4, 4) float64 array; ValueError naming ``name`` otherwise."""
    try:
        array = np.asarray(affine.detach().cpu() if hasattr(affine, "detach") else affine, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (4, 4) affine, got {affine!r}") from None
    if array.shape != (4, 4) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite (4, 4) affine, got shape {array.shape}")
    if not np.allclose(array[3], (0, 0, 0, 1)) or abs(np.linalg.det(array[:3, :3])) < 1e-12:
        raise ValueError(f"{name} is not an invertible affine (last row {array[3].tolist()})")
    return array


def _positions(points: Any, name: str) -> np.ndarray:
    """``points`` as a float64 array of shape (..., 3); ValueError otherwise."""
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be points of three numbers (..., 3), got {points!r}") from None
    if array.ndim == 0 or array.shape[-1] != 3 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite points of shape (..., 3), got {points!r}")
    return array


def round_to_voxel(positions: np.ndarray) -> np.ndarray:
    """Nearest voxel index, halves upward, as int64 (same shape)."""
    return np.floor(np.asarray(positions) + 0.5).astype(np.int64)


def indices_to_world(points: Any, affine: Any) -> np.ndarray:
    """Voxel indices to world coordinates.

    Args:
        points: (..., 3) voxel indices (i, j, k), whole or fractional.
        affine: (4, 4) voxel -> world (mm) matrix, numpy or torch.

    Returns:
        (..., 3) float64 world coordinates in mm, in the affine's frame (RAS for MONAI).
    """
    matrix = _affine(affine, "affine")
    return _positions(points, "points") @ matrix[:3, :3].T + matrix[:3, 3]


def world_to_indices(points: Any, affine: Any, round: bool = True) -> np.ndarray:
    """World coordinates to voxel indices of the image with this affine.

    Args:
        points: (..., 3) world coordinates in mm.
        affine: (4, 4) voxel -> world matrix of the target image.
        round: round to the nearest voxel (int64); False keeps fractional float64 indices.

    Returns:
        (..., 3) voxel indices (i, j, k); not checked against any image size.
    """
    inverse = np.linalg.inv(_affine(affine, "affine"))
    indices = _positions(points, "points") @ inverse[:3, :3].T + inverse[:3, 3]
    return round_to_voxel(indices) if round else indices


def map_points(points: Any, from_affine: Any, to_affine: Any, round: bool = True) -> np.ndarray:
    """Voxel positions in one image to voxel positions in another of the same world.

    Works in either direction: original -> transformed with (original affine, current
    affine), transformed -> original with the two swapped.

    Args:
        points: (..., 3) voxel indices in the ``from`` image.
        from_affine: (4, 4) voxel -> world of the image the points are in.
        to_affine: (4, 4) voxel -> world of the image to map them to.
        round: round to the nearest voxel.

    Returns:
        (..., 3) voxel indices in the ``to`` image (int64 if rounded, else float64).
    """
    return world_to_indices(indices_to_world(points, from_affine), to_affine, round=round)


def _check_outside(outside: str) -> str:
    if outside not in _OUTSIDE:
        raise ValueError(f"outside must be one of {_OUTSIDE}, got {outside!r}")
    return outside


def _inside(index: np.ndarray, spatial_shape: Sequence[int] | None) -> bool:
    return spatial_shape is None or bool(np.all((index >= 0) & (index < np.asarray(spatial_shape))))


def map_clicks(
    clicks: Iterable[Click],
    from_affine: Any,
    to_affine: Any,
    spatial_shape: Sequence[int] | None = None,
    outside: str = "raise",
) -> list[Click]:
    """Clicks on one image as clicks on another of the same world (either direction).

    Args:
        clicks: clicks with voxel indices in the ``from`` image.
        from_affine: (4, 4) voxel -> world of that image.
        to_affine: (4, 4) voxel -> world of the target image.
        spatial_shape: (X, Y, Z) size of the target image; None skips the inside check.
        outside: ``"raise"`` (ValueError) or ``"drop"`` for a click that lands outside.

    Returns:
        The clicks in the target image, nearest voxel, same signs and order (less dropped ones).

    Raises:
        ValueError: a bad affine or ``outside``; a click outside with ``outside="raise"``.
    """
    _check_outside(outside)
    clicks = list(clicks)
    if not clicks:
        return []
    for n, click in enumerate(clicks):
        if not isinstance(click, Click):
            raise ValueError(f"clicks[{n}] = {click!r} is not a Click")
    indices = map_points([c.index for c in clicks], from_affine, to_affine, round=True)
    mapped = []
    for click, index in zip(clicks, indices):
        if not _inside(index, spatial_shape):
            if outside == "drop":
                continue
            raise ValueError(
                f"click {list(click.index)} maps to {index.tolist()}, outside the image of size {list(spatial_shape)}"
            )
        mapped.append(Click(tuple(int(v) for v in index), click.positive))  # type: ignore[arg-type]
    return mapped


def to_original_indices(
    points: Any,
    transformed_affine: Any,
    original_affine: Any,
    original_shape: Sequence[int] | None = None,
) -> np.ndarray:
    """Positions in a transformed image (e.g. a click a simulator chose there) as original indices.

    Args:
        points: (..., 3) voxel positions in the transformed image, whole or fractional.
        transformed_affine: (4, 4) ``MetaTensor.affine`` of the transformed image.
        original_affine: (4, 4) affine of the image on disk (``meta["original_affine"]``).
        original_shape: (X, Y, Z) size of the image on disk; given, a point outside it raises.

    Returns:
        (..., 3) int64 voxel indices (i, j, k) of the image on disk.

    Raises:
        ValueError: a bad affine or point, or a point outside ``original_shape``.
    """
    indices = map_points(points, transformed_affine, original_affine, round=True)
    flat = indices.reshape(-1, 3)
    bad = [p.tolist() for p in flat if not _inside(p, original_shape)]
    if bad:
        raise ValueError(f"points map to {bad}, outside the original image of size {list(original_shape or [])}")
    return indices


class MapClicksd(MapTransform):
    """Map clicks stored in the data dictionary to the current space of an image (or back).

    Put it after the spatial transforms (orientation, spacing, crop, resize) and before
    the guidance encoding. Each key holds either a list of :class:`Click` or MONAI Label
    points ``[[i, j, k], ...]``; the mapped clicks replace them, in the same form.

    Args:
        keys: keys of the clicks to map.
        image_key: key of the transformed image, a (C, X, Y, Z) MetaTensor.
        original_affine_key: key of the (4, 4) affine the clicks were given in; None reads
            ``data[image_key].meta["original_affine"]`` (set by ``LoadImaged``).
        outside: ``"raise"`` or ``"drop"`` for a click that lands outside the target image.
        to_original: map the other way, from the current image back to the original
            indices (checked against ``meta["spatial_shape"]`` when present).
        allow_missing_keys: skip click keys that are absent.

    Raises:
        ValueError: a bad ``outside``; at call time, an image that is not a MetaTensor or
            has no original affine, or a click outside with ``outside="raise"``.
    """

    def __init__(
        self,
        keys: KeysCollection = "clicks",
        image_key: str = "image",
        original_affine_key: str | None = None,
        outside: str = "raise",
        to_original: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key
        self.original_affine_key = original_affine_key
        self.outside = _check_outside(outside)
        self.to_original = to_original

    def _spaces(self, data: Mapping[Hashable, Any]) -> tuple[np.ndarray, np.ndarray, Sequence[int] | None]:
        """(from affine, to affine, target spatial shape)."""
        image = data[self.image_key]
        if not isinstance(image, MetaTensor):
            raise ValueError(
                f"data['{self.image_key}'] must be a MetaTensor with an affine, got {type(image).__name__}"
            )
        if self.original_affine_key is not None:
            original = data[self.original_affine_key]
        elif "original_affine" in image.meta:
            original = image.meta["original_affine"]
        else:
            raise ValueError(
                f"data['{self.image_key}'] has no meta['original_affine']: load it with LoadImaged "
                "or give original_affine_key"
            )
        current = image.affine
        if self.to_original:
            shape = image.meta.get("spatial_shape")
            return current, original, None if shape is None else [int(n) for n in np.asarray(shape).ravel()[:3]]
        return original, current, list(image.shape[1:])

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        from_affine, to_affine, shape = self._spaces(d)
        for key in self.key_iterator(d):
            value = d[key]
            if value is None:
                continue
            items = list(value)
            if all(isinstance(c, Click) for c in items):
                d[key] = map_clicks(items, from_affine, to_affine, shape, self.outside)
            else:
                # MONAI Label points: map as (positive) clicks, give back plain lists
                points = parse_clicks({str(key): items}, foreground_keys=(str(key),))
                d[key] = [list(c.index) for c in map_clicks(points, from_affine, to_affine, shape, self.outside)]
        return d
