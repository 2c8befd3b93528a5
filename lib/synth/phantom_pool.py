"""Phantom studies at random resolutions, as training material for class-agnostic click models.

A :class:`PoolStudy` is one generated phantom (CT with PET, or MRI-STIR) rendered at a random
voxel size, stored in RAS (no reorientation needed), with its every-structure label map
(``lib.phantom.config.ALL_LABELS``) and a few derived tissue labels (body, fat, air) so the
SynthSeg generator can paint the whole image, not only the organs. Patches are cut around one
structure (or one connected component of it: a single lung, rib or tumour) of the allowed
ones; held-out structures are never a target, only surroundings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cc3d
import numpy as np

from lib.phantom.config import ALL_LABELS, PhantomConfig, stir_config
from lib.phantom.generate import generate_phantom
from lib.imaging.intensity import percentile_range

#: Extra tissue labels painted from the CT for the SynthSeg generator (after the organs').
BODY_LABEL, FAT_LABEL = 8, 9


@dataclass(frozen=True)
class PoolStudy:
    """One phantom at its own voxel size.

    Attributes:
        image: (X, Y, Z) float32 channel 0 (CT in HU, or STIR).
        pet: (X, Y, Z) float32 PET (SUV) or None.
        organs: (X, Y, Z) uint8 every structure (``ALL_LABELS``), 0 elsewhere.
        tissues: (X, Y, Z) uint8 ``organs`` plus body / fat labels, for synthetic contrasts.
        spacing: voxel size (X, Y, Z) mm.
        modality: ``"ct"`` or ``"mri_stir"``.
        value_range: the ``"percentile"`` policy's range of the whole image.
        inverted_range: the same for ``-image``.
    """

    image: np.ndarray
    pet: np.ndarray | None
    organs: np.ndarray
    tissues: np.ndarray
    spacing: tuple[float, float, float]
    modality: str
    value_range: tuple[float, float]
    inverted_range: tuple[float, float]


def study_config(seed: int, rng: np.random.Generator, modality: str) -> PhantomConfig:
    """A phantom config of the default field of view at a random voxel size (in-plane 2 .. 3.5 mm, slices 2 .. 6 mm)."""
    inplane = float(rng.uniform(2.0, 3.5))
    thick = float(rng.uniform(max(inplane, 2.0), 6.0)) if rng.random() < 0.7 else inplane
    if modality == "mri_stir":
        base = stir_config(seed)
        fov = np.asarray(base.extent_mm)
    else:
        base = PhantomConfig(seed=seed, pet=True)
        fov = np.asarray(base.extent_mm)
    spacing = (inplane, inplane, thick)
    shape = tuple(int(max(16, round(f / s))) for f, s in zip(fov, spacing))
    settings = {"shape": shape, "spacing": spacing, "orientation": "RAS",
                "tumour_contrast": float(rng.uniform(10.0, 60.0))}
    if modality == "mri_stir":
        return stir_config(seed, **settings)
    return PhantomConfig(seed=seed, pet=True, max_tumours=3, **settings)


def make_study(seed: int, rng: np.random.Generator, modality: str = "ct") -> PoolStudy:
    """Generate one phantom at a random voxel size (see :func:`study_config`)."""
    config = study_config(seed, rng, modality)
    phantom = generate_phantom(config)
    image = phantom.image[0]
    organs = phantom.organs.astype(np.uint8)
    tissues = organs.copy()
    if modality == "ct":
        body, fat = image > -500, (image > -300) & (image < -30)
    else:
        body, fat = image > 60, (image > 20) & (image <= 60)
    tissues[(tissues == 0) & body] = BODY_LABEL
    tissues[(organs == 0) & fat] = FAT_LABEL
    return PoolStudy(
        image=image, pet=phantom.image[1] if phantom.image.shape[0] > 1 else None, organs=organs,
        tissues=tissues, spacing=tuple(float(s) for s in config.spacing), modality=modality,  # type: ignore[arg-type]
        value_range=percentile_range(image), inverted_range=percentile_range(-image),
    )


def target_mask(study: PoolStudy, structures: Sequence[str], rng: np.random.Generator,
                component_probability: float = 0.4) -> tuple[str, np.ndarray] | None:
    """A random target of the study: one allowed structure, or one connected component of it.

    Returns:
        (name, (X, Y, Z) bool) or None when no allowed structure is present.
    """
    present = [name for name in structures if np.any(study.organs == ALL_LABELS[name])]
    if not present:
        return None
    name = present[int(rng.integers(len(present)))]
    mask = study.organs == ALL_LABELS[name]
    if rng.random() < component_probability:
        components, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
        if n > 1:
            sizes = np.bincount(components.ravel())[1:]
            big = np.flatnonzero(sizes >= 20) + 1
            if big.size:
                mask = components == int(big[int(rng.integers(big.size))])
    return name, mask


__all__ = ["BODY_LABEL", "FAT_LABEL", "PoolStudy", "make_study", "study_config", "target_mask"]
