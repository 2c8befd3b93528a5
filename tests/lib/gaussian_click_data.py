"""Tiny volumes and a stand-in network for the Gaussian-click tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from lib.phantom.geometry import make_affine

SHAPE = (24, 20, 8)
SPACING = (3.0, 3.0, 4.0)  # the 2D model's in-plane spacing: no in-plane resampling


def write_volume(
    folder: Path,
    orientation: str,
    shape: tuple[int, int, int] = SHAPE,
    spacing: tuple[float, float, float] = SPACING,
    bright: tuple[int, int, int] | None = None,
) -> tuple[Path, np.ndarray, np.ndarray]:
    """A NIfTI of air (-1000 HU) with a soft-tissue ball and, optionally, one bright voxel.

    Returns:
        path, (X, Y, Z) HU array as stored, (4, 4) affine.
    """
    affine = make_affine(shape, spacing, orientation)
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1)
    centre = np.array(shape) // 2
    ball = (((grid - centre) * np.array(spacing)) ** 2).sum(-1) < 12.0**2
    array = np.where(ball, 40.0, -1000.0).astype(np.float32)
    if bright is not None:
        array[bright] = 1000.0
    path = folder / f"{orientation}_{'x'.join(map(str, shape))}.nii.gz"
    nib.save(nib.Nifti1Image(array, affine), path)
    return path, array, affine


class GuidanceEcho(torch.nn.Module):
    """Answers 'foreground' where the foreground guidance is high: a click acts where it lands.

    Logit = 40 * (foreground guidance - 0.5), so the probability is 0.5 at half the Gaussian's
    peak and highest at the clicked voxel. It has one parameter so optimisers accept it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(40.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x[:, 1:2] - 0.5)
