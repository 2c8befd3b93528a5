"""Render a phantom: labels, CT (HU) or MRI-STIR-like signal, and optionally PET (SUV)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from lib.phantom.anatomy import Anatomy, draw_anatomy
from lib.phantom.config import ALL_LABELS, LABELS, PhantomConfig
from lib.phantom.geometry import make_affine, sigma_in_voxels, world_coordinates
from lib.phantom.shapes import Tumour, ZCylinder

#: CT value of the heart-like organ and of unenhanced soft tissue (HU); a tumour is
#: ``HEART_HU + tumour_contrast * contrast_scale``, its necrotic core ``NECROSIS_HU``.
HEART_HU = 45.0
NECROSIS_HU = 15.0
PET_FWHM_MM = 6.0


@dataclass
class Phantom:
    """One generated study.

    Attributes:
        image: (C, X, Y, Z) float32. Channel 0: CT in HU or MRI-STIR signal;
            channel 1 (when ``config.pet``): PET in SUV.
        label: (X, Y, Z) uint8, values from ``LABELS`` (0 background).
        affine: (4, 4) voxel index -> RAS world mm.
        tumours: the tumours drawn, for tests and reports.
        organs: (X, Y, Z) uint8, every drawn structure, values from ``ALL_LABELS`` (gtv and
            heart as in ``label``, then lung, liver, aorta, bone, spinal canal).
    """

    image: np.ndarray
    label: np.ndarray
    affine: np.ndarray
    config: PhantomConfig
    tumours: tuple[Tumour, ...]
    organs: np.ndarray | None = None

    @property
    def channel_names(self) -> tuple[str, ...]:
        first = "ct" if self.config.modality == "ct" else "stir"
        return (first, "pet") if self.config.pet else (first,)


@dataclass
class _Masks:
    """Boolean (X, Y, Z) masks of every tissue, after overlaps are resolved."""

    body: np.ndarray
    fat: np.ndarray
    lung: np.ndarray
    heart: np.ndarray
    liver: np.ndarray
    bone: np.ndarray
    canal: np.ndarray
    aorta: np.ndarray
    tumours: list[np.ndarray]
    cores: list[np.ndarray]
    #: The part of the canal inside the vertebra: PET (6 mm FWHM) keeps bone uptake there, as it
    #: was drawn before the canal's label was fixed, so the PET-CT phantoms stay the same.
    canal_in_bone: np.ndarray

    @property
    def any_tumour(self) -> np.ndarray:
        return np.logical_or.reduce(self.tumours)


def _masks(anatomy: Anatomy, world: np.ndarray) -> _Masks:
    body = anatomy.body.mask(world)
    inner = anatomy.body_inner.mask(world)
    a, b = anatomy.body_inner.semi_axes
    rib_ring = inner & ~ZCylinder((0.0, 0.0), (a - 9.0, b - 9.0)).mask(world)
    ribs = rib_ring & (np.cos(2 * np.pi * world[..., 2] / 26.0) > 0.45) & (np.abs(world[..., 2]) < 115)
    tumours = [t.blob.mask(world) & inner for t in anatomy.tumours]
    cores = [t.blob.core_mask(world) & m for t, m in zip(anatomy.tumours, tumours)]
    any_tumour = np.logical_or.reduce(tumours)
    heart = anatomy.heart.mask(world) & inner & ~any_tumour
    canal = anatomy.canal.mask(world) & inner
    # The canal is a hole in the vertebra: it sits partly inside the spine's ellipse, and the image
    # draws it there, so bone stops at the canal (before, the label left most of the canal as bone).
    bones = (anatomy.spine.mask(world) | anatomy.sternum.mask(world) | ribs) & ~any_tumour
    bone = bones & ~canal
    aorta = anatomy.aorta.mask(world) & inner & ~any_tumour
    solid = heart | bone | canal | aorta | any_tumour
    lung = (anatomy.lungs[0].mask(world) | anatomy.lungs[1].mask(world)) & inner & ~solid
    lung &= ~anatomy.heart.mask(world)
    liver = anatomy.liver.mask(world) & inner & ~lung & ~solid
    return _Masks(body, body & ~inner, lung, heart, liver, bone, canal, aorta, tumours, cores, canal & bones)


def _label(masks: _Masks) -> np.ndarray:
    label = np.zeros(masks.body.shape, dtype=np.uint8)
    label[masks.heart] = LABELS["heart"]
    label[masks.any_tumour] = LABELS["gtv"]
    return label


def _organ_label(masks: _Masks) -> np.ndarray:
    """``_label`` with the other organs too (``ALL_LABELS``); the masks do not overlap."""
    label = _label(masks)
    for name, mask in (("lung", masks.lung), ("liver", masks.liver), ("aorta", masks.aorta),
                       ("bone", masks.bone), ("spinal_canal", masks.canal)):
        label[mask & (label == 0)] = ALL_LABELS[name]
    return label


def _texture(rng: np.random.Generator, shape: tuple[int, ...], amplitude: float) -> np.ndarray:
    """Smooth low-frequency tissue inhomogeneity with standard deviation about ``amplitude``."""
    field = gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma=3.0)
    return field * (amplitude / max(float(field.std()), 1e-6))


def _render_ct(config: PhantomConfig, anatomy: Anatomy, m: _Masks, rng: np.random.Generator) -> np.ndarray:
    ct = np.full(m.body.shape, -1000.0, dtype=np.float32)
    ct[m.body] = 40.0
    ct[m.fat] = -90.0
    ct[m.liver] = 60.0
    ct[m.lung] = -850.0
    ct[m.aorta] = 42.0
    ct[m.bone] = 550.0
    ct[m.canal] = 15.0
    ct[m.heart] = HEART_HU
    ct += np.where(m.body & ~m.lung, _texture(rng, m.body.shape, 8.0), 0.0)
    for tumour, mask, core in zip(anatomy.tumours, m.tumours, m.cores):
        ct[mask] = HEART_HU + config.tumour_contrast * tumour.contrast_scale
        ct[core] = NECROSIS_HU
    return ct


def _render_pet(anatomy: Anatomy, m: _Masks) -> np.ndarray:
    pet = np.zeros(m.body.shape, dtype=np.float32)
    pet[m.body] = 1.0
    pet[m.fat] = 0.4
    pet[m.lung] = 0.35
    pet[m.liver] = 2.2
    pet[m.bone | m.canal_in_bone] = 1.6
    pet[m.heart] = anatomy.heart_suv
    for tumour, mask, core in zip(anatomy.tumours, m.tumours, m.cores):
        pet[mask] = tumour.suv
        pet[core] = 1.2
    return pet


def _render_stir(anatomy: Anatomy, m: _Masks) -> np.ndarray:
    stir = np.zeros(m.body.shape, dtype=np.float32)
    stir[m.body] = 100.0
    stir[m.fat] = 35.0
    stir[m.liver] = 150.0
    stir[m.lung] = 20.0
    stir[m.aorta] = 120.0
    stir[m.bone] = 70.0
    stir[m.canal] = 500.0
    stir[m.heart] = 260.0
    for tumour, mask in zip(anatomy.tumours, m.tumours):
        stir[mask] = tumour.stir_signal
    return stir


def _blur(volume: np.ndarray, sigma_mm: float, affine: np.ndarray) -> np.ndarray:
    if sigma_mm <= 0:
        return volume
    return gaussian_filter(volume, sigma=sigma_in_voxels(sigma_mm, affine)).astype(np.float32)


def generate_phantom(config: PhantomConfig) -> Phantom:
    """Generate the study ``config`` describes. Deterministic: equal configs, equal arrays."""
    anatomy = draw_anatomy(config)
    affine = make_affine(config.shape, config.spacing, config.orientation, config.oblique_degrees)
    affine[:3, 3] += np.asarray(config.centre_mm, dtype=float)
    masks = _masks(anatomy, world_coordinates(affine, config.shape))
    rng = np.random.default_rng([config.seed, 104729])
    noise = config.noise_level
    if config.modality == "ct":
        first = _blur(_render_ct(config, anatomy, masks, rng), config.blur_mm, affine)
        first += rng.normal(0.0, noise, size=first.shape).astype(np.float32)
    else:
        first = _blur(_render_stir(anatomy, masks), config.blur_mm, affine)
        # Magnitude images carry Rician noise: |signal + complex Gaussian|.
        re = first + rng.normal(0.0, noise, size=first.shape).astype(np.float32)
        im = rng.normal(0.0, noise, size=first.shape).astype(np.float32)
        first = np.sqrt(re * re + im * im)
    channels = [first]
    if config.pet:
        pet = _blur(_render_pet(anatomy, masks), PET_FWHM_MM / 2.355, affine)
        pet += rng.normal(size=pet.shape).astype(np.float32) * (0.08 * pet + 0.03)
        channels.append(np.maximum(pet, 0.0))
    return Phantom(
        image=np.stack(channels).astype(np.float32),
        label=_label(masks),
        affine=affine,
        config=config,
        tumours=anatomy.tumours,
        organs=_organ_label(masks),
    )
