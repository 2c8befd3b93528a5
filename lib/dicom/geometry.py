"""One source of truth for where DICOM pixels are: an affine in, IOP / IPP / spacing out, and back.

Affines are NIfTI-style voxel index (i, j, k) -> RAS+ world mm (as ``lib.phantom`` writes
them); DICOM patient coordinates are LPS+ mm. Slice k of the volume is one DICOM frame whose
pixel column is i and pixel row is j.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: RAS+ <-> LPS+ (its own inverse).
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
#: How far two directions may disagree (cosine units) and still count as equal.
DIRECTION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class SliceGeometry:
    """The DICOM plane attributes of a volume's slices.

    Attributes:
        orientation: ImageOrientationPatient, 6 floats: LPS direction of a row
            (increasing column index, i) then of a column (increasing row index, j).
        positions: (K, 3) ImagePositionPatient of each slice k: LPS mm of voxel (0, 0, k).
        pixel_spacing: PixelSpacing, (between rows = along j, between columns = along i) in mm.
        slice_spacing: distance between slice centres along k in mm.
    """

    orientation: tuple[float, ...]
    positions: np.ndarray
    pixel_spacing: tuple[float, float]
    slice_spacing: float


def slice_geometry(affine: np.ndarray, shape: Sequence[int]) -> SliceGeometry:
    """DICOM plane attributes of every slice of a volume.

    Args:
        affine: (4, 4) voxel index (i, j, k) -> RAS mm.
        shape: (X, Y, Z) voxels along i, j, k.

    Raises:
        ValueError: the axes are not orthogonal or k is not along the slice normal
            (DICOM single-frame series cannot hold such a grid).
    """
    linear = RAS_TO_LPS @ np.asarray(affine, dtype=float)[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    directions = linear / spacing
    normal = np.cross(directions[:, 0], directions[:, 1])
    if abs(float(directions[:, 0] @ directions[:, 1])) > DIRECTION_TOLERANCE or not np.allclose(
        normal, directions[:, 2], atol=DIRECTION_TOLERANCE
    ):
        raise ValueError("the affine's k axis is not the right-handed normal of its i, j plane")
    origin = RAS_TO_LPS @ np.asarray(affine, dtype=float)[:3, 3]
    positions = origin[None, :] + np.arange(shape[2])[:, None] * linear[:, 2][None, :]
    return SliceGeometry(
        orientation=tuple(float(v) for v in np.concatenate([directions[:, 0], directions[:, 1]])),
        positions=positions,
        pixel_spacing=(float(spacing[1]), float(spacing[0])),
        slice_spacing=float(spacing[2]),
    )


def affine_from_planes(
    orientation: Sequence[float], positions: Sequence[Sequence[float]], pixel_spacing: Sequence[float]
) -> np.ndarray:
    """The RAS affine of a stack of DICOM slices already sorted along their normal.

    Args:
        orientation: ImageOrientationPatient (6 floats, shared by every slice).
        positions: ImagePositionPatient of each slice, in the order of k; at least one.
        pixel_spacing: PixelSpacing (row spacing, column spacing) in mm.

    Returns:
        (4, 4) voxel index (i = column, j = row, k = slice) -> RAS mm.
    """
    iop = np.asarray(orientation, dtype=float)
    positions = np.asarray(positions, dtype=float)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    if len(positions) > 1:
        step = (positions[-1] - positions[0]) / (len(positions) - 1)
    else:
        step = normal
    linear = np.stack([row * float(pixel_spacing[1]), col * float(pixel_spacing[0]), step], axis=1)
    affine = np.eye(4)
    affine[:3, :3] = RAS_TO_LPS @ linear
    affine[:3, 3] = RAS_TO_LPS @ positions[0]
    return affine


def slice_order(orientation: Sequence[float], positions: Sequence[Sequence[float]]) -> np.ndarray:
    """Indices that sort slices by their position along the normal, ascending (k order)."""
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return np.argsort(np.asarray(positions, dtype=float) @ normal, kind="stable")
