"""Random anatomy of one phantom, drawn from its seed (the only random step of shapes).

A thorax in RAS world mm centred at the origin: body with subcutaneous fat, two
lungs, a heart-like organ left of the midline, spine, aorta, sternum, ribs, liver
below the diaphragm, and tumours: next to the heart (low contrast, the hard case),
inside a lung (high contrast), or, in MRI-STIR mode, many small ones along nerves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.phantom.config import PhantomConfig
from lib.phantom.shapes import Ellipsoid, LobulatedBlob, Tumour, ZCylinder


@dataclass(frozen=True)
class Anatomy:
    """Every solid of a phantom, in world mm."""

    body: ZCylinder
    body_inner: ZCylinder
    lungs: tuple[Ellipsoid, Ellipsoid]
    heart: Ellipsoid
    liver: Ellipsoid
    spine: ZCylinder
    canal: ZCylinder
    aorta: ZCylinder
    sternum: ZCylinder
    tumours: tuple[Tumour, ...]
    heart_suv: float


def _blob(rng: np.random.Generator, centre: np.ndarray, radius: float, necrotic: bool) -> LobulatedBlob:
    """A lobulated solid around ``centre`` (mm) with mean radius ``radius`` (mm)."""
    waves = tuple(
        (*rng.normal(0.0, 1.5, size=3), float(rng.uniform(0.05, 0.18)), float(rng.uniform(0, 2 * np.pi)))
        for _ in range(3)
    )
    lobes = []
    for _ in range(int(rng.integers(0, 3))):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        r = radius * rng.uniform(0.35, 0.6)
        lobes.append((*(centre + direction * radius * rng.uniform(0.7, 0.95)), r))
    return LobulatedBlob(
        centre=tuple(float(c) for c in centre),
        radius=float(radius),
        waves=tuple(tuple(float(v) for v in w) for w in waves),
        lobes=tuple(tuple(float(v) for v in lobe) for lobe in lobes),
        core_fraction=float(rng.uniform(0.35, 0.55)) if necrotic else 0.0,
    )


def _juxtacardiac_tumour(rng: np.random.Generator, heart: Ellipsoid) -> Tumour:
    """A tumour pressed against the heart's medial/upper surface: similar density, hard to separate."""
    u = np.array([rng.uniform(0.2, 1.0), rng.uniform(-0.6, 0.6), rng.uniform(-0.2, 0.9)])
    u /= np.linalg.norm(u)
    c, s = np.cos(np.radians(heart.z_degrees)), np.sin(np.radians(heart.z_degrees))
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    semi = np.asarray(heart.semi_axes)
    surface = np.asarray(heart.centre) + rot @ (semi * u)
    normal = rot @ (u / semi)
    normal /= np.linalg.norm(normal)
    radius = rng.uniform(12.0, 24.0)
    centre = surface + normal * radius * rng.uniform(0.3, 0.7)
    return Tumour(
        blob=_blob(rng, centre, radius, necrotic=rng.random() < 0.35),
        site="juxtacardiac",
        contrast_scale=float(rng.uniform(0.5, 1.3)),
        suv=float(rng.uniform(4.0, 12.0)),
    )


def _lung_tumour(rng: np.random.Generator, lung: Ellipsoid) -> Tumour:
    """A tumour inside a lung: high contrast, usually the easy case."""
    offset = rng.uniform(-0.5, 0.5, size=3) * np.asarray(lung.semi_axes)
    radius = rng.uniform(7.0, 18.0)
    return Tumour(
        blob=_blob(rng, np.asarray(lung.centre) + offset, radius, necrotic=rng.random() < 0.2),
        site="lung",
        contrast_scale=float(rng.uniform(0.5, 1.3)),
        suv=float(rng.uniform(4.0, 12.0)),
    )


def _nerve_tumours(rng: np.random.Generator, body_a: float, body_b: float) -> tuple[Tumour, ...]:
    """Many small bright tumours strung along a few straight 'nerves' (neurofibroma-like)."""
    tumours = []
    for _ in range(int(rng.integers(2, 4))):
        start = np.array([rng.uniform(-0.7, 0.7) * body_a, rng.uniform(-0.9, -0.3) * body_b, -110.0])
        end = np.array([rng.uniform(-0.8, 0.8) * body_a, rng.uniform(-0.6, 0.6) * body_b, 110.0])
        for t in np.sort(rng.uniform(0.0, 1.0, size=int(rng.integers(3, 8)))):
            centre = start + t * (end - start) + rng.normal(0.0, 4.0, size=3)
            tumours.append(
                Tumour(
                    blob=_blob(rng, centre, rng.uniform(3.5, 10.0), necrotic=False),
                    site="nerve",
                    stir_signal=float(rng.uniform(450.0, 900.0)),
                )
            )
    return tuple(tumours)


def draw_anatomy(config: PhantomConfig) -> Anatomy:
    """Draw the anatomy of the phantom ``config`` describes; same config, same anatomy."""
    rng = np.random.default_rng([config.seed, 7919])
    a, b = 150.0 * rng.uniform(0.92, 1.05), 105.0 * rng.uniform(0.92, 1.05)
    body = ZCylinder(centre=(0.0, 0.0), semi_axes=(a, b))
    body_inner = ZCylinder(centre=(0.0, 0.0), semi_axes=(a - 12.0, b - 12.0))
    lungs = tuple(
        Ellipsoid(
            centre=(side * rng.uniform(62, 75), rng.uniform(-10, 5), rng.uniform(5, 20)),
            semi_axes=(rng.uniform(48, 58), rng.uniform(62, 78), rng.uniform(100, 120)),
        )
        for side in (1.0, -1.0)
    )
    heart = Ellipsoid(
        centre=(rng.normal(-22, 6), rng.normal(28, 5), rng.normal(-25, 8)),
        semi_axes=tuple(float(v) for v in np.array([52.0, 42.0, 46.0]) * rng.uniform(0.85, 1.15, size=3)),
        z_degrees=float(rng.uniform(-35, -10)),
    )
    liver = Ellipsoid(centre=(45.0, 5.0, -150.0), semi_axes=(95.0, 80.0, 70.0), z_degrees=10.0)
    spine = ZCylinder(centre=(0.0, -b + 38.0), semi_axes=(17.0, 15.0))
    canal = ZCylinder(centre=(0.0, -b + 20.0), semi_axes=(6.0, 6.0))
    aorta = ZCylinder(centre=(-22.0, -b + 52.0), semi_axes=(11.0, 11.0), z_range=(-140.0, 70.0))
    sternum = ZCylinder(centre=(0.0, b - 18.0), semi_axes=(16.0, 6.0), z_range=(-90.0, 80.0))
    if config.modality == "mri_stir":
        tumours = _nerve_tumours(rng, a, b)
    else:
        n = int(rng.integers(1, config.max_tumours + 1))
        first = _juxtacardiac_tumour(rng, heart) if rng.random() < 0.65 else _lung_tumour(rng, lungs[0])
        rest = [_lung_tumour(rng, lungs[int(rng.integers(0, 2))]) for _ in range(n - 1)]
        tumours = (first, *rest)
    return Anatomy(
        body=body,
        body_inner=body_inner,
        lungs=lungs,  # type: ignore[arg-type]
        heart=heart,
        liver=liver,
        spine=spine,
        canal=canal,
        aorta=aorta,
        sternum=sternum,
        tumours=tumours,
        heart_suv=float(rng.uniform(2.0, 6.0)),
    )
