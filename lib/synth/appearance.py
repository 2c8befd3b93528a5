"""SynthSeg-style images from label maps (Billot et al., 2023), with TorchIO.

A label map becomes an image with a random mean and spread of intensity per label
(TorchIO's ``RandomLabelsToImage``, the SynthSeg generator), then a random bias field,
gamma, partial-volume blur (thicker along a thick-slice axis), noise and, sometimes,
contrast inversion. The result is in arbitrary units; the network sees it through the
``"percentile"`` intensity policy (:mod:`lib.imaging.intensity`), as it sees any non-CT
input. TorchIO draws from torch's global generator, which :func:`synthesise` seeds from the
numpy generator it is given, so a seeded run is repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchio as tio

#: Probability that an image is inverted (bright becomes dark).
INVERT_PROBABILITY = 0.25


def _pipeline(spacing: Sequence[float]) -> tio.Compose:
    thick = float(spacing[2]) / float(min(spacing))
    blur_z = (0.0, 0.6 * float(spacing[2])) if thick > 1.4 else (0.0, 1.0)
    return tio.Compose([
        tio.RandomLabelsToImage(label_key="label", image_key="image", default_mean=(0.0, 1.0),
                                default_std=(0.005, 0.12)),
        tio.Lambda(lambda x: torch.clamp(x, min=0.0), types_to_apply=[tio.INTENSITY]),
        tio.RandomBiasField(coefficients=0.4, p=0.5),
        tio.RandomGamma(log_gamma=(-0.4, 0.4), p=0.5),
        tio.RandomBlur(std=(0.0, 1.2, 0.0, 1.2, *blur_z), p=0.7),
        tio.RandomNoise(std=(0.0, 0.06), p=0.8),
    ])


def synthesise(labels: np.ndarray, spacing: Sequence[float], rng: np.random.Generator,
               invert_probability: float = INVERT_PROBABILITY) -> np.ndarray:
    """A random-contrast image of a label map.

    Args:
        labels: (X, Y, Z) integer label map.
        spacing: voxel size (X, Y, Z) mm (the blur is in mm).
        rng: randomness (also seeds torch's generator for TorchIO).
        invert_probability: chance of inverting the contrast.

    Returns:
        (X, Y, Z) float32, arbitrary units.
    """
    torch.manual_seed(int(rng.integers(2**31 - 1)))
    affine = np.diag([*map(float, spacing), 1.0])
    label_map = tio.LabelMap(tensor=torch.from_numpy(np.asarray(labels, dtype=np.int16)[None].astype(np.int64)),
                             affine=affine)
    subject = tio.Subject(label=label_map)
    image = _pipeline(spacing)(subject)["image"].data[0].numpy().astype(np.float32)
    if rng.random() < invert_probability:
        image = float(image.max()) - image
    return image


__all__ = ["INVERT_PROBABILITY", "synthesise"]
