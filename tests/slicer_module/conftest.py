"""The Slicer module's plain-Python package on the path, and real image headers to test it on.

3D Slicer itself is not installed in CI: the package (``SlicePropagationLib``) is imported as
Slicer imports it, from the module's folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lib.phantom.geometry import make_affine

MODULE_DIR = Path(__file__).resolve().parents[2] / "slicer_module" / "SlicePropagation"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

SHAPE_IJK = (20, 16, 9)


def sagittal_affine(shape, spacing):
    """A sagittally stored grid: i along anterior, j along superior, k along the patient's left-right."""
    affine = np.eye(4)
    affine[:3, :3] = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) @ np.diag(spacing)
    affine[:3, 3] = (5.0, -12.0, 30.0)
    return affine


#: name -> IJK-to-RAS affine: RAS, LPS, oblique (the phantoms' headers), anisotropic oblique, sagittal.
AFFINES = {
    "RAS": make_affine(SHAPE_IJK, (3.0, 3.0, 6.0), "RAS"),
    "LPS": make_affine(SHAPE_IJK, (3.0, 3.0, 6.0), "LPS"),
    "oblique": make_affine(SHAPE_IJK, (3.0, 3.0, 6.0), "oblique"),
    "anisotropic": make_affine(SHAPE_IJK, (0.7, 1.9, 5.0), "oblique", oblique_degrees=(33.0, -21.0)),
    "sagittal": sagittal_affine(SHAPE_IJK, (1.0, 1.2, 4.0)),
}


def truth_label(shape_ijk=SHAPE_IJK) -> np.ndarray:
    """(I, J, K) uint8: a GTV box (1) beside a heart box (2), asymmetric so any flip shows."""
    label = np.zeros(shape_ijk, np.uint8)
    label[3:9, 4:11, 2:7] = 1
    label[11:17, 2:6, 1:4] = 2
    label[4, 5, 2] = 0  # a hole: exact voxels, not just boxes
    return label


@pytest.fixture(params=sorted(AFFINES))
def headed_image(request, tmp_path):
    """(name, NIfTI path written by nibabel, its affine, the (I, J, K) truth label) for each orientation."""
    affine = AFFINES[request.param]
    image = nib.Nifti1Image(np.random.default_rng(0).normal(size=SHAPE_IJK).astype(np.float32), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    path = tmp_path / f"{request.param}.nii.gz"
    nib.save(image, path)
    return request.param, path, affine, truth_label()
