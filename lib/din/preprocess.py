"""An image in DIN's model space, and its answers back on the input grid.

DIN's paper keeps the scans' own anisotropic grid (no isotropic resampling; thick slices
stay thick) and builds the anisotropy into the network. Model space here is the same as
the project's 3D click models (:mod:`lib.gaussian_click.preprocess` with ``dims=3``, reused,
not copied): RAS orientation, 3 x 3 x 6 mm (X, Y, Z), Z the slice axis, CT channel 0
windowed to [-200, 200] HU and scaled to [-1, 1]. The CT phantoms are stored at exactly
that spacing, so for them model space is the stored grid, only reoriented.

:class:`PreparedImage` maps clicks in (``clicks_to_model``) and answers out
(``to_input_grid``), so clicks land on the voxel the user clicked and the answer is on the
input image's own grid whatever its orientation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.gaussian_click.preprocess import (
    CT_WINDOW_HU,
    SPACING_3D,
    PreparedImage,
    model_space_transforms as _model_space_transforms,
    prepare_array as _prepare_array,
    prepare_file as _prepare_file,
)

#: Model-space voxel size (X, Y, Z) in mm.
MODEL_SPACING_MM: tuple[float, float, float] = SPACING_3D
#: Model-space value of air (-200 HU and below): what padding looks like to the network.
PAD_VALUE = -1.0
#: Cache tag of this model space (:mod:`lib.session_cache`).
CACHE_TAG = "din"


def model_space_transforms(keys=("image", "label")) -> list:
    """Paths -> (1, X, Y, Z) model-space MetaTensors (image bilinear, label nearest)."""
    return _model_space_transforms(3, keys)


def prepare_file(path: str | Path) -> PreparedImage:
    """Load an image file into model space (see the module doc).

    Raises:
        ValueError: an image that is not 3D. The reader's own error for an unreadable file.
    """
    return _prepare_file(path, 3)


def prepare_array(image: np.ndarray, affine: np.ndarray) -> PreparedImage:
    """An in-memory (C, X, Y, Z) image (channel 0 CT in HU) with its (4, 4) affine into model space."""
    return _prepare_array(image, affine, 3)


__all__ = [
    "CACHE_TAG",
    "CT_WINDOW_HU",
    "MODEL_SPACING_MM",
    "PAD_VALUE",
    "PreparedImage",
    "model_space_transforms",
    "prepare_array",
    "prepare_file",
]
