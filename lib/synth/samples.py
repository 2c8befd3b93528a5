"""Training samples for a class-agnostic, modality-agnostic click model: (image patch, truth).

Each sample is a fixed-size patch (X, Y, Z voxels) in model units (:mod:`lib.imaging.intensity`)
and the bool truth of ONE target, drawn from a mixture (:data:`MIXTURE`):

- ``synthetic``: a random label scene (:mod:`lib.synth.scene`: blobs, tubes, sheets, hollow
  shapes, several components among random tissue regions) painted SynthSeg-style
  (:mod:`lib.synth.appearance`), ``"percentile"`` policy;
- ``phantom_ct``: a CT phantom (``lib/phantom``, its PET-CT variant's CT channel) at a random
  voxel size, HU windowed (``"ct"`` policy);
- ``phantom_ct_percentile``: the same CT under the ``"percentile"`` policy (a CT crop without
  air, or a CT the request says to treat as any image);
- ``phantom_inverted``: minus the CT, ``"percentile"`` policy;
- ``phantom_synthetic``: a phantom's tissue label map painted SynthSeg-style;
- ``phantom_stir``: an MRI-STIR phantom, ``"percentile"`` policy.

Phantom targets are allowed structures only (or one connected component of one), so a
held-out structure is never what the model learns to answer. Patches are centred on the
target's bounding box (jittered); with probability ``RANDOM_WINDOW`` a phantom patch is placed
anywhere (the truth may be empty: no foreground click then, and the answer must be nothing).
Orientation is randomised by flips of X and Y and an X/Y swap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lib.imaging.intensity import normalise
from lib.synth.appearance import synthesise
from lib.synth.phantom_pool import PoolStudy, make_study, target_mask
from lib.synth.scene import random_scene

MIXTURE: dict[str, float] = {
    "synthetic": 0.45,
    "phantom_ct": 0.2,
    "phantom_ct_percentile": 0.07,
    "phantom_inverted": 0.07,
    "phantom_synthetic": 0.13,
    "phantom_stir": 0.08,
}
#: Model-space value of padding (air under the CT policy).
PAD_VALUE = -1.0
JITTER: tuple[int, int, int] = (8, 8, 4)
RANDOM_WINDOW = 0.05


def crop_patch(volume: np.ndarray, centre: Sequence[int], size: Sequence[int], fill: float) -> np.ndarray:
    """The ``size`` box of ``volume`` (X, Y, Z) centred on ``centre``, ``fill`` beyond the volume."""
    out = np.full(tuple(size), fill, dtype=volume.dtype)
    src, dst = [], []
    for c, n, s in zip(centre, volume.shape, size):
        start = int(c) - int(s) // 2
        a, b = max(start, 0), min(start + int(s), int(n))
        src.append(slice(a, max(a, b)))
        dst.append(slice(a - start, a - start + max(0, b - a)))
    out[tuple(dst)] = volume[tuple(src)]
    return out


def random_orientation(image: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random X / Y flips and X/Y swap applied to both arrays (Z stays the slice axis)."""
    for axis in (0, 1):
        if rng.random() < 0.5:
            image, truth = np.flip(image, axis), np.flip(truth, axis)
    if image.shape[0] == image.shape[1] and rng.random() < 0.5:
        image, truth = image.transpose(1, 0, 2), truth.transpose(1, 0, 2)
    return np.ascontiguousarray(image), np.ascontiguousarray(truth)


class SampleGenerator:
    """Draws training samples from the mixture.

    Args:
        size: patch size (X, Y, Z) voxels.
        structures: phantom structures allowed as targets (names of ``ALL_LABELS``).
        rng: randomness.
        studies: phantom pool (CT and STIR :class:`PoolStudy`); None generates ``ct_studies``
            CT and ``stir_studies`` STIR phantoms from ``first_seed`` on.
        mixture: source -> probability (default :data:`MIXTURE`).
    """

    def __init__(self, size: Sequence[int], structures: Sequence[str], rng: np.random.Generator,
                 studies: Sequence[PoolStudy] | None = None, ct_studies: int = 16, stir_studies: int = 4,
                 first_seed: int = 100, mixture: dict[str, float] | None = None) -> None:
        self.size = tuple(int(s) for s in size)
        self.structures = list(structures)
        self.rng = rng
        if studies is None:
            studies = [make_study(first_seed + n, rng, "ct") for n in range(ct_studies)]
            studies += [make_study(first_seed + ct_studies + n, rng, "mri_stir") for n in range(stir_studies)]
        self.ct = [s for s in studies if s.modality == "ct"]
        self.stir = [s for s in studies if s.modality == "mri_stir"]
        self.mixture = dict(mixture or MIXTURE)
        if not self.ct:
            self.mixture = {k: v for k, v in self.mixture.items() if not k.startswith("phantom")}
        elif not self.stir:
            self.mixture.pop("phantom_stir", None)

    def _source(self) -> str:
        names = list(self.mixture)
        p = np.asarray([self.mixture[n] for n in names], dtype=float)
        return names[int(self.rng.choice(len(names), p=p / p.sum()))]

    def synthetic(self) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
        scene = random_scene(self.size, self.rng)
        image = normalise(synthesise(scene.labels, scene.spacing, self.rng), "percentile")
        return image, scene.truth, tuple(scene.spacing)

    def phantom(self, source: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]] | None:
        pool = self.stir if source == "phantom_stir" else self.ct
        study = pool[int(self.rng.integers(len(pool)))]
        target = target_mask(study, self.structures, self.rng)
        if target is None:
            return None
        mask = target[1]
        if self.rng.random() < RANDOM_WINDOW:
            centre = (self.rng.random(3) * np.asarray(mask.shape)).astype(int)
        else:
            points = np.argwhere(mask)
            centre = (points.min(axis=0) + points.max(axis=0) + 1) // 2
            centre = centre + np.round(self.rng.uniform(-1, 1, size=3) * np.asarray(JITTER)).astype(int)
        truth = crop_patch(mask, centre, self.size, False)
        if source == "phantom_synthetic":
            labels = crop_patch(study.tissues, centre, self.size, 0)
            image = normalise(synthesise(labels, study.spacing, self.rng), "percentile")
            return image, truth, tuple(study.spacing)
        raw = crop_patch(study.image, centre, self.size, np.nan)
        if source == "phantom_ct":
            image = normalise(raw, "ct")
        elif source == "phantom_inverted":
            image = normalise(-raw, "percentile", study.inverted_range)
        else:
            image = normalise(raw, "percentile", study.value_range)
        image[np.isnan(raw)] = PAD_VALUE
        return image, truth, tuple(study.spacing)

    def draw(self) -> tuple[np.ndarray, np.ndarray, str, tuple[float, float, float]]:
        """One sample with its voxel size: image, truth, source (as :meth:`sample`) and (X, Y, Z) mm."""
        while True:
            source = self._source()
            drawn = self.synthetic() if source == "synthetic" else self.phantom(source)
            if drawn is not None:
                image, truth, spacing = drawn
                image, truth = random_orientation(image, truth, self.rng)
                # in-plane voxels are square in every source, so an X/Y swap leaves the spacing as is
                return image.astype(np.float32), truth, source, tuple(float(v) for v in spacing)

    def sample(self) -> tuple[np.ndarray, np.ndarray, str]:
        """One sample: image (X, Y, Z) float32 model units, truth (X, Y, Z) bool, and its source."""
        image, truth, source, _ = self.draw()
        return image, truth, source


__all__ = ["JITTER", "MIXTURE", "PAD_VALUE", "RANDOM_WINDOW", "SampleGenerator", "crop_patch", "random_orientation"]
