"""Tiny phantoms with full labels and corrective annotations, and a tiny network, for the online tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import UNet

from lib.online.annotation import correction_from_prediction
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.io import save_nifti_atomic, save_phantom

SHAPE = (32, 32, 16)


def tiny_network() -> torch.nn.Module:
    """(B, 1, X, Y, Z) -> (B, 3, X, Y, Z); sizes divisible by 2."""
    return UNet(spatial_dims=3, in_channels=1, out_channels=3, channels=(4, 8), strides=(2,), num_res_units=0)


def write_case(folder: Path, seed: int, full: bool, orientation: str = "RAS") -> tuple[str, str, bool]:
    """Write phantom ``seed`` and its annotation: the full label, or a correction (inside the
    central box) of a prediction shifted 3 voxels along X. Returns (image, annotation, full)."""
    phantom = generate_phantom(PhantomConfig(seed=seed, shape=SHAPE, orientation=orientation))
    image = folder / f"case_{seed}.nii.gz"
    save_phantom(phantom, image)
    if full:
        annotation = folder / "labels" / "final" / image.name
        save_nifti_atomic(phantom.label.astype(np.uint8), phantom.affine, annotation)
    else:
        box = (slice(8, 24), slice(8, 24), slice(4, 12))
        correction = correction_from_prediction(np.roll(phantom.label, 3, axis=0), phantom.label, box)
        annotation = folder / "labels" / "correction" / image.name
        save_nifti_atomic(correction, phantom.affine, annotation)
    return str(image), str(annotation), full
