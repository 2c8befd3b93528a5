"""Headers of generated studies: voxel-to-world affines and world coordinates of voxels.

World coordinates are RAS+ millimetres (x to the patient's right, y anterior, z
superior), the NIfTI convention, with the patient's centre at the origin.
"""

from __future__ import annotations

import numpy as np

from lib.phantom.config import Orientation


def _rotation(z_degrees: float, x_degrees: float) -> np.ndarray:
    """(3, 3) rotation: about x by ``x_degrees``, then about z by ``z_degrees``."""
    cz, sz = np.cos(np.radians(z_degrees)), np.sin(np.radians(z_degrees))
    cx, sx = np.cos(np.radians(x_degrees)), np.sin(np.radians(x_degrees))
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return rz @ rx


def make_affine(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    orientation: Orientation,
    oblique_degrees: tuple[float, float] = (14.0, 6.0),
) -> np.ndarray:
    """Voxel index (i, j, k) -> RAS world mm, centred so the middle voxel sits at the origin.

    Returns:
        (4, 4) float64 affine in the NIfTI sense.
    """
    if orientation == "RAS":
        direction = np.eye(3)
    elif orientation == "LPS":
        direction = np.diag([-1.0, -1.0, 1.0])
    elif orientation == "oblique":
        direction = _rotation(*oblique_degrees)
    else:
        raise ValueError(f"unknown orientation {orientation!r}")
    linear = direction @ np.diag(spacing)
    centre_index = (np.asarray(shape, dtype=float) - 1.0) / 2.0
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ centre_index
    return affine


def world_coordinates(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """World position of every voxel centre.

    Returns:
        (X, Y, Z, 3) float32 array of RAS mm, indexed like the image.
    """
    index = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij"), axis=-1)
    world = index @ affine[:3, :3].T.astype(np.float32) + affine[:3, 3].astype(np.float32)
    return world.astype(np.float32)


def sigma_in_voxels(sigma_mm: float, affine: np.ndarray) -> tuple[float, float, float]:
    """A Gaussian sigma in mm expressed along each voxel axis (i, j, k)."""
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    return tuple(float(sigma_mm / s) for s in spacing)  # type: ignore[return-value]
