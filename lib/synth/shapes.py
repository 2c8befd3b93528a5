"""Random solid shapes on a voxel grid, for class-agnostic click training.

Every shape is drawn in millimetres on a grid of a given voxel size (X, Y, Z), so one shape
looks the same at 1 mm and at 3 x 3 x 6 mm, only sampled differently (thick slices cut it
coarsely, as they cut anatomy). Kinds (:data:`SHAPE_KINDS`):

- ``blob``: an ellipsoid whose radius varies smoothly with position (lobulated, tumour- or
  organ-like), any size and elongation;
- ``tube``: a smooth random curve with a radius (vessel-, nerve- or canal-like);
- ``sheet``: a thin curved slab bounded by an ellipsoid (fascia-, wall- or diaphragm-like);
- ``hollow``: the wall of a blob (a shell: bladder-, cyst- or ventricle-like);
- ``multi``: two to four small blobs near each other (several components of one structure:
  lymph nodes, metastases).

All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

SHAPE_KINDS: tuple[str, ...] = ("blob", "tube", "sheet", "hollow", "multi")


def grid_mm(shape: Sequence[int], spacing: Sequence[float], centre: Sequence[float]) -> np.ndarray:
    """(X, Y, Z, 3) float32 position of each voxel centre in mm, relative to ``centre`` (voxels)."""
    axes = [(np.arange(n, dtype=np.float32) - float(c)) * float(s) for n, c, s in zip(shape, centre, spacing)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A (3, 3) rotation drawn uniformly (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q.astype(np.float32)


def smooth_noise(shape: Sequence[int], spacing: Sequence[float], sigma_mm: float, rng: np.random.Generator) -> np.ndarray:
    """(X, Y, Z) float32 Gaussian noise smoothed by ``sigma_mm``, scaled to unit standard deviation."""
    field = ndimage.gaussian_filter(rng.normal(size=tuple(shape)).astype(np.float32),
                                    sigma=[sigma_mm / float(s) for s in spacing], mode="wrap")
    return field / max(float(field.std()), 1e-6)


def blob(world: np.ndarray, spacing: Sequence[float], semi_axes_mm: Sequence[float],
         rng: np.random.Generator, roughness: float | None = None) -> np.ndarray:
    """A lobulated ellipsoid centred at the world origin.

    Args:
        world: (X, Y, Z, 3) mm positions (:func:`grid_mm`).
        spacing: voxel size (X, Y, Z) mm.
        semi_axes_mm: the three semi-axes before rotation, mm.
        rng: randomness (rotation, surface waviness).
        roughness: relative amplitude of the radius variation; None draws it in [0, 0.35].

    Returns:
        (X, Y, Z) bool.
    """
    local = world @ random_rotation(rng)
    rho = np.sqrt(np.sum((local / np.asarray(semi_axes_mm, dtype=np.float32)) ** 2, axis=-1))
    amplitude = float(rng.uniform(0.0, 0.35)) if roughness is None else roughness
    if amplitude > 0:
        scale = float(min(semi_axes_mm)) * rng.uniform(0.3, 0.8)
        rho = rho * (1.0 + amplitude * 0.5 * smooth_noise(rho.shape, spacing, max(scale, 1.0), rng))
    return rho <= 1.0


def tube(world: np.ndarray, length_mm: float, radius_mm: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve of about ``length_mm`` through the origin, thickened to ``radius_mm``."""
    t = np.linspace(-0.5, 0.5, 24, dtype=np.float32)[:, None]
    direction = random_rotation(rng)[:, 0]
    bend = rng.normal(0.0, 0.25, size=(2, 3)).astype(np.float32) * length_mm
    points = t * length_mm * direction + np.sin(np.pi * t) * bend[0] + np.sin(2 * np.pi * t) * bend[1] * 0.5
    flat = world.reshape(-1, 3)
    best = np.full(flat.shape[0], np.inf, dtype=np.float32)
    for a, b in zip(points[:-1], points[1:]):
        ab = b - a
        u = np.clip(((flat - a) @ ab) / max(float(ab @ ab), 1e-6), 0.0, 1.0)
        d = np.sum((flat - a - u[:, None] * ab) ** 2, axis=1)
        np.minimum(best, d, out=best)
    radius = radius_mm * (1.0 + 0.3 * np.sin(np.linspace(0, rng.uniform(1, 6), flat.shape[0])))
    return (best <= (radius * radius).astype(np.float32)).reshape(world.shape[:-1])


def sheet(world: np.ndarray, spacing: Sequence[float], extent_mm: Sequence[float], thickness_mm: float,
          rng: np.random.Generator) -> np.ndarray:
    """A thin curved slab (``thickness_mm`` thick) through the origin, bounded by an ellipsoid."""
    rotation = random_rotation(rng)
    local = world @ rotation
    bend = smooth_noise(world.shape[:-1], spacing, float(max(extent_mm)) * 0.4, rng) * float(rng.uniform(0, 0.15))
    height = local[..., 2] + bend * float(max(extent_mm))
    bound = np.sum((local[..., :2] / np.asarray(extent_mm[:2], dtype=np.float32)) ** 2, axis=-1) <= 1.0
    return (np.abs(height) <= thickness_mm / 2.0) & bound


def hollow(world: np.ndarray, spacing: Sequence[float], semi_axes_mm: Sequence[float], wall_mm: float,
           rng: np.random.Generator) -> np.ndarray:
    """The wall (``wall_mm`` thick) of a lobulated ellipsoid."""
    solid = blob(world, spacing, semi_axes_mm, rng, roughness=float(rng.uniform(0.0, 0.2)))
    inside = ndimage.distance_transform_edt(solid, sampling=spacing)
    return solid & (inside <= wall_mm)


def several(world: np.ndarray, spacing: Sequence[float], spread_mm: float, radius_mm: float,
            rng: np.random.Generator) -> np.ndarray:
    """Two to four small blobs within ``spread_mm`` of the origin (one structure, several components)."""
    mask = np.zeros(world.shape[:-1], dtype=bool)
    for _ in range(int(rng.integers(2, 5))):
        offset = rng.uniform(-spread_mm, spread_mm, size=3).astype(np.float32)
        radii = radius_mm * rng.uniform(0.6, 1.4, size=3)
        mask |= blob(world - offset, spacing, radii, rng, roughness=0.1)
    return mask


def random_shape(kind: str, shape: Sequence[int], spacing: Sequence[float], centre: Sequence[float],
                 size_mm: float, rng: np.random.Generator) -> np.ndarray:
    """One shape of ``kind`` about ``size_mm`` across, centred on voxel ``centre``.

    Args:
        kind: one of :data:`SHAPE_KINDS`.
        shape: grid size (X, Y, Z) voxels.
        spacing: voxel size (X, Y, Z) mm.
        centre: (x, y, z) voxel (may be fractional) the shape sits on.
        size_mm: its typical diameter (a tube's length, a sheet's width), mm.
        rng: randomness.

    Returns:
        (X, Y, Z) bool; may be empty when the shape falls between thick slices.

    Raises:
        ValueError: an unknown kind.
    """
    world = grid_mm(shape, spacing, centre)
    half = size_mm / 2.0
    thin = max(float(min(spacing)), 1.0)
    if kind == "blob":
        return blob(world, spacing, half * rng.uniform(0.4, 1.0, size=3), rng)
    if kind == "tube":
        return tube(world, size_mm * rng.uniform(0.8, 2.0), max(thin, half * rng.uniform(0.08, 0.3)), rng)
    if kind == "sheet":
        return sheet(world, spacing, half * rng.uniform(0.6, 1.0, size=2), thin * rng.uniform(1.5, 3.5), rng)
    if kind == "hollow":
        return hollow(world, spacing, half * rng.uniform(0.6, 1.0, size=3), thin * rng.uniform(1.5, 4.0), rng)
    if kind == "multi":
        return several(world, spacing, half * 0.8, max(thin * 1.5, half * rng.uniform(0.15, 0.35)), rng)
    raise ValueError(f"unknown shape kind {kind!r}; known: {SHAPE_KINDS}")


__all__ = ["SHAPE_KINDS", "blob", "grid_mm", "hollow", "random_rotation", "random_shape", "several", "sheet",
           "smooth_noise", "tube"]
