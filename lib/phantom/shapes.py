"""Solid shapes defined in world millimetres, evaluated on voxel centres.

Each shape answers ``mask(world)``: world is (..., 3) RAS mm, the result a boolean
array of the same leading shape. Shapes are plain data so a phantom's anatomy can
be drawn once (randomly) and rendered many times (deterministically).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid with centre (mm), semi-axes (mm) and a rotation about z (degrees)."""

    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    z_degrees: float = 0.0

    def local(self, world: np.ndarray) -> np.ndarray:
        """Coordinates in the ellipsoid's own frame, scaled so its surface is the unit sphere."""
        c, s = np.cos(np.radians(self.z_degrees)), np.sin(np.radians(self.z_degrees))
        d = world - np.asarray(self.centre, dtype=np.float32)
        x = c * d[..., 0] + s * d[..., 1]
        y = -s * d[..., 0] + c * d[..., 1]
        return np.stack([x, y, d[..., 2]], axis=-1) / np.asarray(self.semi_axes, dtype=np.float32)

    def mask(self, world: np.ndarray) -> np.ndarray:
        return np.sum(self.local(world) ** 2, axis=-1) <= 1.0


@dataclass(frozen=True)
class ZCylinder:
    """Elliptic cylinder along z: centre (x, y) mm, semi-axes (a, b) mm, z range mm."""

    centre: tuple[float, float]
    semi_axes: tuple[float, float]
    z_range: tuple[float, float] = (-1e9, 1e9)

    def mask(self, world: np.ndarray) -> np.ndarray:
        dx = (world[..., 0] - self.centre[0]) / self.semi_axes[0]
        dy = (world[..., 1] - self.centre[1]) / self.semi_axes[1]
        inside_z = (world[..., 2] >= self.z_range[0]) & (world[..., 2] <= self.z_range[1])
        return (dx**2 + dy**2 <= 1.0) & inside_z


@dataclass(frozen=True)
class LobulatedBlob:
    """A tumour-like solid: a sphere whose radius varies smoothly with direction, plus lobes.

    The radius in direction u is ``radius * (1 + sum_k amp_k cos(pi * w_k . u + phase_k))``.

    Attributes:
        centre: mm.
        radius: mean radius in mm.
        waves: (K, 5) rows of (w_x, w_y, w_z, amplitude, phase).
        lobes: extra spheres as (x, y, z, radius) in mm, joined to the body.
        core_fraction: a necrotic core of this fraction of the radius (0: none).
    """

    centre: tuple[float, float, float]
    radius: float
    waves: tuple[tuple[float, float, float, float, float], ...] = ()
    lobes: tuple[tuple[float, float, float, float], ...] = ()
    core_fraction: float = 0.0

    def _relative_radius(self, world: np.ndarray) -> np.ndarray:
        """Distance from the centre divided by the direction's radius (1 on the surface)."""
        d = world - np.asarray(self.centre, dtype=np.float32)
        rho = np.linalg.norm(d, axis=-1)
        u = d / np.maximum(rho, 1e-6)[..., None]
        scale = np.ones_like(rho)
        for wx, wy, wz, amplitude, phase in self.waves:
            scale += amplitude * np.cos(np.pi * (u[..., 0] * wx + u[..., 1] * wy + u[..., 2] * wz) + phase)
        return rho / (self.radius * np.maximum(scale, 0.3))

    def mask(self, world: np.ndarray) -> np.ndarray:
        inside = self._relative_radius(world) <= 1.0
        for x, y, z, r in self.lobes:
            inside |= np.sum((world - np.asarray((x, y, z), dtype=np.float32)) ** 2, axis=-1) <= r * r
        return inside

    def core_mask(self, world: np.ndarray) -> np.ndarray:
        if self.core_fraction <= 0:
            return np.zeros(world.shape[:-1], dtype=bool)
        return self._relative_radius(world) <= self.core_fraction


@dataclass(frozen=True)
class Tumour:
    """A GTV: its solid, where it sits, and how it looks (HU offset and PET uptake)."""

    blob: LobulatedBlob
    site: str
    contrast_scale: float = 1.0
    suv: float = 8.0
    stir_signal: float = 700.0
    extra: dict = field(default_factory=dict)
