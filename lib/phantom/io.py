"""Write phantoms as NIfTI files, atomically (temp file + rename)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from lib.atomic import write_atomically
from lib.phantom.generate import Phantom


def save_nifti_atomic(array: np.ndarray, affine: np.ndarray, path: str | Path) -> Path:
    """Save (X, Y, Z) or (X, Y, Z, C) ``array`` with ``affine`` to ``path`` without a half-written file."""
    path = Path(path)
    image = nib.Nifti1Image(array, affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    write_atomically(path, lambda tmp: nib.save(image, tmp))
    return path


def save_phantom(phantom: Phantom, image_path: str | Path, label_path: str | Path | None = None) -> None:
    """Write the image (channels last on disk when there are several) and, optionally, its label."""
    image = phantom.image[0] if phantom.image.shape[0] == 1 else np.moveaxis(phantom.image, 0, -1)
    save_nifti_atomic(image.astype(np.float32), phantom.affine, image_path)
    if label_path is not None:
        save_nifti_atomic(phantom.label.astype(np.uint8), phantom.affine, label_path)
