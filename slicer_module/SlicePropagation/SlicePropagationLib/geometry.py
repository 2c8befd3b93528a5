"""Voxel grids as 3D Slicer and the server see them: IJK-to-RAS matrices, view axes, label files.

Slicer holds a volume's geometry as a (4, 4) IJK-to-RAS matrix and its voxels as a numpy
array in (K, J, I) order (``slicer.util.arrayFromVolume``); ITK, SimpleITK and the server's
files hold the same grid in LPS with the array on disk in (I, J, K) order. The server names
a slice axis by its IJK index (0 = i, 1 = j, 2 = k), so an IJK axis ``a`` is numpy axis
``2 - a`` of a (K, J, I) array. Everything here is plain numpy / SimpleITK.
"""

from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import numpy as np
import SimpleITK as sitk

#: RAS <-> LPS: flip the first two world axes.
RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def numpy_axis(ijk_axis: int) -> int:
    """The axis of a (K, J, I) array that runs along IJK axis ``ijk_axis`` (0, 1, 2)."""
    if ijk_axis not in (0, 1, 2):
        raise ValueError(f"an IJK axis is 0, 1 or 2, got {ijk_axis!r}")
    return 2 - ijk_axis


def ijk_to_ras_of(image: sitk.Image) -> np.ndarray:
    """The (4, 4) IJK-to-RAS matrix of a SimpleITK image (what Slicer computes when it loads it)."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = image.GetOrigin()
    return RAS_FROM_LPS @ matrix


def ijk_to_ras_from_lps(ijk_to_lps: np.ndarray) -> np.ndarray:
    """IJK-to-RAS from an IJK-to-LPS matrix (a NRRD / ``.seg.nrrd`` header, ``slicerio``'s ``ijkToLPS``)."""
    return RAS_FROM_LPS @ np.asarray(ijk_to_lps, dtype=float)


def set_geometry(image: sitk.Image, ijk_to_ras: np.ndarray) -> sitk.Image:
    """Give ``image`` the grid of a (4, 4) IJK-to-RAS matrix (origin, spacing, direction in LPS); returns it.

    Raises:
        ValueError: the matrix is not a rotation times positive spacings (sheared or singular).
    """
    lps = RAS_FROM_LPS @ np.asarray(ijk_to_ras, dtype=float)
    linear = lps[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if np.any(spacing <= 0):
        raise ValueError(f"the IJK-to-RAS matrix has a zero column: spacing {spacing.tolist()}")
    direction = linear / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise ValueError("the IJK-to-RAS matrix is sheared: its columns are not orthogonal")
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(v) for v in direction.ravel()])
    image.SetOrigin([float(v) for v in lps[:3, 3]])
    return image


def write_label(label_kji: np.ndarray, ijk_to_ras: np.ndarray, path: str) -> str:
    """Write a (K, J, I) label array on the grid ``ijk_to_ras`` as a uint8 file (NIfTI, NRRD by suffix)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(label_kji, dtype=np.uint8))
    set_geometry(image, ijk_to_ras)
    sitk.WriteImage(image, str(path), True)
    return str(path)


def read_label(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """A label file as ((K, J, I) uint8 array, (4, 4) IJK-to-RAS matrix); ValueError if it is not one."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"cannot read the label file {path}: {error}") from error
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"the label file {path} is not a 3D single-channel image")
    array = sitk.GetArrayFromImage(image)
    if np.any(array < 0) or np.any(np.mod(array, 1) != 0):
        raise ValueError(f"the label file {path} holds values that are not class numbers")
    return array.astype(np.uint8), ijk_to_ras_of(image)


def grid_offset_mm(a: np.ndarray, b: np.ndarray, shape_ijk: Sequence[int]) -> float:
    """Largest distance (mm) between where two IJK-to-RAS matrices put the grid's corner voxels."""
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape_ijk], [1], indexing="ij")).reshape(4, -1)
    return float(np.abs(np.asarray(a) @ corners - np.asarray(b) @ corners)[:3].max())


def nearest_ijk_axis(normal_ras: Sequence[float], ijk_to_ras: np.ndarray) -> Tuple[int, float]:
    """The IJK axis most nearly along a RAS direction, and the angle (degrees) between them.

    A slice view shows the plane normal to ``normal_ras``; the slices drawn in it are slices
    across this IJK axis (exactly when the angle is 0, as in red / yellow / green views of an
    axis-aligned volume; to the nearest voxel for a reformatted view or an oblique volume).
    """
    normal = np.asarray(normal_ras, dtype=float)[:3]
    length = np.linalg.norm(normal)
    if length == 0:
        raise ValueError("the view's normal is a zero vector")
    columns = np.asarray(ijk_to_ras, dtype=float)[:3, :3]
    cosines = np.abs(columns.T @ normal) / (np.linalg.norm(columns, axis=0) * length)
    axis = int(np.argmax(cosines))
    return axis, float(np.degrees(np.arccos(np.clip(cosines[axis], -1.0, 1.0))))


def view_axis(slice_to_ras: np.ndarray, ijk_to_ras: np.ndarray) -> Tuple[int, float]:
    """The IJK axis a slice view cuts across (its SliceToRAS third column is the view's normal), and the angle."""
    return nearest_ijk_axis(np.asarray(slice_to_ras, dtype=float)[:3, 2], ijk_to_ras)


def best_view(views: Mapping[str, np.ndarray], ijk_to_ras: np.ndarray, axis: int) -> str:
    """The name of the slice view (``{name: SliceToRAS}``) that cuts most squarely across IJK ``axis``."""
    if not views:
        raise ValueError("there is no slice view")
    angles = {}
    for name, slice_to_ras in views.items():
        view, angle = view_axis(slice_to_ras, ijk_to_ras)
        angles[name] = (view != axis, angle)
    return min(angles, key=lambda name: angles[name])


def slice_centre_ras(ijk_to_ras: np.ndarray, shape_ijk: Sequence[int], axis: int, index: int) -> np.ndarray:
    """The RAS point (mm) at the centre of slice ``index`` across IJK ``axis``: where to move a view."""
    if not 0 <= index < shape_ijk[axis]:
        raise ValueError(f"slice {index} is outside the volume: axis {axis} has slices 0..{shape_ijk[axis] - 1}")
    centre = (np.asarray(shape_ijk, dtype=float) - 1.0) / 2.0
    centre[axis] = index
    return (np.asarray(ijk_to_ras, dtype=float) @ np.append(centre, 1.0))[:3]


def slice_of_point(point_ras: Sequence[float], ijk_to_ras: np.ndarray, axis: int) -> int:
    """The index (rounded) along IJK ``axis`` of the slice through a RAS point (a view's centre)."""
    ijk = np.linalg.solve(np.asarray(ijk_to_ras, dtype=float), np.append(np.asarray(point_ras, float)[:3], 1.0))
    return int(np.round(ijk[axis]))


__all__ = [
    "RAS_FROM_LPS", "best_view", "grid_offset_mm", "ijk_to_ras_from_lps", "ijk_to_ras_of", "nearest_ijk_axis", "numpy_axis",
    "read_label", "set_geometry", "slice_centre_ras", "slice_of_point", "view_axis", "write_label",
]
