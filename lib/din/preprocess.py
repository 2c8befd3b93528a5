"""An image in DIN's model space, and its answers back on the input grid.

DIN's paper keeps the scans' own anisotropic grid (no isotropic resampling; thick slices
stay thick) and builds the anisotropy into the network. Each modality has its model space
(:class:`ModelSpace`, :data:`MODEL_SPACES`), RAS orientation in both, Z the slice axis:

- ``"ct"`` (the default, and every model trained before STIR): the project's 3D click models'
  space (:mod:`lib.imaging.prepare` with ``dims=3``, reused, not copied):
  3 x 3 x 6 mm (X, Y, Z), CT channel 0 windowed to [-200, 200] HU and scaled to [-1, 1].
  The CT phantoms are stored at exactly that spacing, so model space is the stored grid,
  only reoriented.
- ``"mri_stir"``: the STIR phantoms' own thick-slice grid, 2.4 x 2.4 x 7.5 mm (X, Y, Z), so
  the paper's sigma (z, y, x) = (1, 5, 5) voxels is 12 mm in plane and one 7.5 mm slice.
  STIR has arbitrary units, so each image is scaled by itself (:func:`stir_intensity`):
  divided by the median signal of its body (the voxels brighter than the image mean),
  minus 1, clipped to [-1, 9]. Soft tissue lands near 0, no signal at -1 (the value padding
  takes, as air does for CT), the bright tumours at about 3.5 .. 8.

:class:`PreparedImage` maps clicks in (``clicks_to_model``) and answers out
(``to_input_grid``), so clicks land on the voxel the user clicked and the answer is on the
input image's own grid whatever its orientation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, MapTransform, Orientationd, Spacingd

from lib.imaging.prepare import (
    CT_WINDOW_HU,
    SPACING_3D,
    PreparedImage,
    first_channel_tensor,
    load_transforms,
)
from lib.imaging.prepare import intensity_transform as ct_intensity_transform

MODALITIES: tuple[str, ...] = ("ct", "mri_stir")
#: CT model-space voxel size (X, Y, Z) in mm.
MODEL_SPACING_MM: tuple[float, float, float] = SPACING_3D
#: STIR model-space voxel size (X, Y, Z) in mm: the STIR phantoms' own grid (thick slices).
STIR_SPACING_MM: tuple[float, float, float] = (2.4, 2.4, 7.5)
#: STIR model-space range: (no signal, 10 x the body median).
STIR_RANGE: tuple[float, float] = (-1.0, 9.0)
#: Model-space value of air / no signal (in both modalities): what padding looks like to the network.
PAD_VALUE = -1.0
#: Cache tag of the CT model space (:mod:`lib.session_cache`).
CACHE_TAG = "din"


def stir_intensity(image: torch.Tensor) -> torch.Tensor:
    """A STIR image (any shape, arbitrary units) scaled by its own body signal.

    ``image / median(image[image > mean(image)]) - 1``, clipped to :data:`STIR_RANGE`. The
    voxels brighter than the image's mean are its soft tissue (air, lung and fat are darker),
    so the median is a muscle-like reference that the few bright tumours cannot move.
    MetaTensors keep their metadata.
    """
    values = image.float()
    body = values[values > values.mean()]
    reference = float(body.median()) if body.numel() else 0.0
    if not np.isfinite(reference) or reference <= 0:
        reference = 1.0  # an empty or constant image: leave the scale alone
    return torch.clamp(values / reference - 1.0, *STIR_RANGE)


class StirIntensityd(MapTransform):
    """Dictionary wrapper of :func:`stir_intensity` (per image, per channel 0 .. C together)."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = stir_intensity(torch.as_tensor(d[key]))
        return d


@dataclass(frozen=True)
class ModelSpace:
    """Where a DIN model works: orientation RAS, a voxel size, an intensity scaling.

    Attributes:
        modality: ``"ct"`` or ``"mri_stir"``.
        spacing_mm: model voxel size (X, Y, Z) in mm.
        intensity: what the intensity scaling does (for model cards).
        cache_tag: the session cache's tag for images prepared in this space.
    """

    modality: str
    spacing_mm: tuple[float, float, float]
    intensity: str
    cache_tag: str
    _intensity: Callable[[], MapTransform]

    def spatial_transforms(self, keys: Sequence[str] = ("image",)) -> list[MapTransform]:
        """RAS, then the model spacing (bilinear for the image, nearest for labels)."""
        keys = tuple(keys)
        modes = tuple("bilinear" if k == "image" else "nearest" for k in keys)
        return [
            Orientationd(keys=keys, axcodes="RAS", allow_missing_keys=True),
            Spacingd(keys=keys, pixdim=self.spacing_mm, mode=modes, allow_missing_keys=True),
        ]

    def transforms(self, keys: Sequence[str] = ("image", "label")) -> list[MapTransform]:
        """Paths -> (1, X, Y, Z) model-space MetaTensors (image bilinear, label nearest)."""
        return [*load_transforms(keys), *self.spatial_transforms(keys), self._intensity()]

    def _prepare(self, data: dict, name: str) -> PreparedImage:
        image = data["image"]
        if image.ndim != 4 or min(image.shape[1:]) < 1:
            raise ValueError(f"{name} must be a 3D image (C, X, Y, Z), got shape {tuple(image.shape)}")
        input_affine = np.asarray(image.affine, dtype=np.float64)
        input_shape = tuple(int(n) for n in image.shape[1:])
        data = Compose([*self.spatial_transforms(), self._intensity()])(data)
        return PreparedImage(data["image"].float(), input_affine, input_shape, 3)  # type: ignore[arg-type]

    def prepare_file(self, path: str | Path) -> PreparedImage:
        """Load an image file (NIfTI, NRRD, DICOM folder...) into this model space.

        Raises:
            ValueError: an image that is not 3D. The reader's own error for an unreadable file.
        """
        data = Compose(load_transforms())({"image": str(path)})
        return self._prepare(data, f"image '{path}'")

    def prepare_array(self, image: np.ndarray, affine: np.ndarray) -> PreparedImage:
        """An in-memory (C, X, Y, Z) image (channel 0 used) with its (4, 4) voxel -> RAS mm affine."""
        return self._prepare({"image": first_channel_tensor(image, affine)}, "image")


def _stir_intensity() -> MapTransform:
    return StirIntensityd(keys="image")


MODEL_SPACES: dict[str, ModelSpace] = {
    "ct": ModelSpace("ct", MODEL_SPACING_MM, "CT [-200, 200] HU -> [-1, 1]", CACHE_TAG, ct_intensity_transform),
    "mri_stir": ModelSpace(
        "mri_stir", STIR_SPACING_MM,
        "STIR / median of the body (voxels above the image mean) - 1, clipped to [-1, 9]",
        "din_mri_stir", _stir_intensity,
    ),
}


def model_space(modality: str = "ct") -> ModelSpace:
    """The model space of a modality.

    Raises:
        ValueError: an unknown modality (named, with the known ones).
    """
    if modality not in MODEL_SPACES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return MODEL_SPACES[modality]


def model_space_transforms(keys=("image", "label"), modality: str = "ct") -> list:
    """Paths -> (1, X, Y, Z) model-space MetaTensors (image bilinear, label nearest)."""
    return model_space(modality).transforms(keys)


def prepare_file(path: str | Path, modality: str = "ct") -> PreparedImage:
    """Load an image file into model space (see the module doc).

    Raises:
        ValueError: an image that is not 3D, or an unknown modality. The reader's own error for an unreadable file.
    """
    return model_space(modality).prepare_file(path)


def prepare_array(image: np.ndarray, affine: np.ndarray, modality: str = "ct") -> PreparedImage:
    """An in-memory (C, X, Y, Z) image (channel 0: CT in HU, or STIR) with its (4, 4) affine into model space."""
    return model_space(modality).prepare_array(image, affine)


__all__ = [
    "CACHE_TAG",
    "CT_WINDOW_HU",
    "MODALITIES",
    "MODEL_SPACES",
    "MODEL_SPACING_MM",
    "PAD_VALUE",
    "STIR_RANGE",
    "STIR_SPACING_MM",
    "ModelSpace",
    "PreparedImage",
    "StirIntensityd",
    "model_space",
    "model_space_transforms",
    "prepare_array",
    "prepare_file",
    "stir_intensity",
]
