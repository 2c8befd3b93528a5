"""An image in the Gaussian-click model's space, and its answers back on the input grid.

Model space: RAS orientation (``Orientationd``: axes permuted and flipped, never resampled),
voxel size ``model_spacing(dims)`` mm (``Spacingd``), CT channel 0 only, windowed to
``CT_WINDOW_HU`` and scaled to [-1, 1]. The paper resampled slices to 1 x 1 mm and
standardised intensities; our phantoms are 3 mm in plane, so we keep 3 mm (a 512 x 512
clinical slice becomes about 140 x 140 pixels, cheap on a CPU), and window as the project's
automatic model does.

- 2D: in-plane spacing 3 x 3 mm; the slice spacing of the input is kept (``Spacingd``'s
  rule for a non-positive pixdim), so each model-space axial slice is one input slice of an
  axially stored image, which is the slice the stock Slicer SmartEdit panel updates.
- 3D: 3 x 3 x 6 mm, the automatic model's spacing.

A :class:`PreparedImage` keeps the model-space image together with everything needed to map
clicks in (``clicks_to_model``) and answers out (``to_input_grid``): the input affine and
shape, and the very transform instances that were applied (MONAI checks their identity on
inversion). It is what the session cache holds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    MapTransform,
    Orientationd,
    ScaleIntensityRanged,
    Spacingd,
)

from lib.interaction.clicks import Click
from lib.interaction.coordinates import map_points, round_to_voxel
from lib.segmentation.transforms import KeepFirstChanneld

CT_WINDOW_HU: tuple[float, float] = (-200.0, 200.0)
#: 0 keeps the input's spacing on that axis (2D: the slices stay the input's slices).
SPACING_2D: tuple[float, float, float] = (3.0, 3.0, 0.0)
SPACING_3D: tuple[float, float, float] = (3.0, 3.0, 6.0)


def model_spacing(dims: int) -> tuple[float, float, float]:
    """Model-space voxel size (X, Y, Z) in mm for a 2D or 3D model (0: the input's).

    Raises:
        ValueError: ``dims`` is not 2 or 3.
    """
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    return SPACING_2D if dims == 2 else SPACING_3D


def load_transforms(keys: Sequence[str] = ("image",)) -> list[MapTransform]:
    """Paths -> (C, X, Y, Z) MetaTensors as stored (affine in RAS mm); the image keeps channel 0."""
    return [
        LoadImaged(keys=tuple(keys), image_only=True),
        EnsureChannelFirstd(keys=tuple(keys)),
        KeepFirstChanneld(keys="image"),
    ]


def spatial_transforms(dims: int, keys: Sequence[str] = ("image",)) -> list[MapTransform]:
    """The invertible part: RAS, then model spacing (bilinear for the image, nearest otherwise)."""
    keys = tuple(keys)
    modes = tuple("bilinear" if k == "image" else "nearest" for k in keys)
    return [
        Orientationd(keys=keys, axcodes="RAS", allow_missing_keys=True),
        Spacingd(keys=keys, pixdim=model_spacing(dims), mode=modes, allow_missing_keys=True),
    ]


def intensity_transform() -> MapTransform:
    """CT window ``CT_WINDOW_HU`` -> [-1, 1], clipped."""
    low, high = CT_WINDOW_HU
    return ScaleIntensityRanged(keys="image", a_min=low, a_max=high, b_min=-1.0, b_max=1.0, clip=True)


def model_space_transforms(dims: int, keys: Sequence[str] = ("image", "label")) -> list[MapTransform]:
    """Paths -> model space, for training and validation (image and label together)."""
    return [*load_transforms(keys), *spatial_transforms(dims, keys), intensity_transform()]


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """An image in model space, with what is needed to map clicks in and answers out.

    Attributes:
        image: (1, X', Y', Z') float32 MetaTensor in model space; its ``applied_operations``
            record the spatial transforms.
        input_affine: (4, 4) voxel index -> RAS mm of the input image.
        input_shape: (X, Y, Z) size of the input image.
        dims: 2 or 3, the model the space was made for.
        spatial: the applied invertible transform instances, in order.
    """

    image: MetaTensor
    input_affine: np.ndarray
    input_shape: tuple[int, int, int]
    dims: int
    spatial: tuple[MapTransform, ...]

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        """(X', Y', Z') size of the model-space image."""
        x, y, z = self.image.shape[1:]
        return int(x), int(y), int(z)

    @property
    def nbytes(self) -> int:
        """Memory held by the model-space image, bytes (for the session cache's bound)."""
        return int(self.image.element_size() * self.image.nelement())

    def check_clicks(self, clicks: Iterable[Click]) -> list[Click]:
        """``clicks`` as a list, each checked to be a Click inside the input image.

        Raises:
            ValueError: no clicks, or a click that is not a Click or lies outside (named).
        """
        clicks = list(clicks)
        if not clicks:
            raise ValueError("no clicks: give at least one foreground click [i, j, k]")
        for n, click in enumerate(clicks):
            if not isinstance(click, Click):
                raise ValueError(f"clicks[{n}] = {click!r} is not a Click")
            if not all(0 <= v < s for v, s in zip(click.index, self.input_shape)):
                raise ValueError(
                    f"click {list(click.index)} is outside the image of size {list(self.input_shape)}"
                )
        return clicks

    def clicks_to_model(self, clicks: Iterable[Click]) -> list[Click]:
        """Clicks on the input image (indices i, j, k) as clicks on the nearest model-space voxel.

        Every voxel of the input lies in the model image's field of view, but MONAI's
        ``Spacing`` grid can stop short of the input's outermost voxel centres when it
        upsamples (9 mm -> 3 mm: model voxel -1 is input voxel 0). Such a click goes to the
        nearest model voxel, the border one, which is where it is; nothing else is moved.

        Raises:
            ValueError: as :meth:`check_clicks`.
        """
        checked = self.check_clicks(clicks)
        positions = map_points([c.index for c in checked], self.input_affine, self.image.affine, round=False)
        nearest = round_to_voxel(np.clip(positions, 0, np.asarray(self.spatial_shape) - 1))
        return [Click(tuple(int(v) for v in p), c.positive) for p, c in zip(nearest, checked)]  # type: ignore[misc]

    def to_input_grid(self, volume: np.ndarray | torch.Tensor) -> np.ndarray:
        """A model-space map brought back to the input image's grid (bilinear).

        Args:
            volume: (X', Y', Z') values on the model-space grid (e.g. probabilities).

        Returns:
            (X, Y, Z) float32 on the input grid, whose affine is ``input_affine``.
        """
        values = torch.as_tensor(np.asarray(volume, dtype=np.float32))
        if tuple(values.shape) != self.spatial_shape:
            raise ValueError(f"volume shape {tuple(values.shape)} differs from the model space {self.spatial_shape}")
        meta = {k: v for k, v in self.image.meta.items() if k != "affine"}
        answer = MetaTensor(values[None], affine=self.image.affine.clone(), meta=meta)
        answer.applied_operations = copy.deepcopy(self.image.applied_operations)
        restored = Compose(list(self.spatial)).inverse({"image": answer})["image"]
        grid = np.asarray(restored[0].detach().cpu(), dtype=np.float32)
        if grid.shape != self.input_shape:
            raise RuntimeError(f"inversion gave shape {grid.shape}, expected the input's {self.input_shape}")
        return grid


def _check_image(image: MetaTensor, name: str) -> None:
    """A (C, X, Y, Z) image; ValueError naming it otherwise."""
    if image.ndim != 4 or min(image.shape[1:]) < 1:
        raise ValueError(f"{name} must be a 3D image (C, X, Y, Z), got shape {tuple(image.shape)}")


def _prepare(data: dict, dims: int, name: str) -> PreparedImage:
    """Model space from a dict holding a (C, X, Y, Z) MetaTensor ``image`` as stored."""
    _check_image(data["image"], name)
    input_affine = np.asarray(data["image"].affine, dtype=np.float64)
    input_shape = tuple(int(n) for n in data["image"].shape[1:])
    spatial = spatial_transforms(dims)
    data = Compose([*spatial, intensity_transform()])(data)
    image = data["image"].float()
    return PreparedImage(image, input_affine, input_shape, dims, tuple(spatial))  # type: ignore[arg-type]


def prepare_file(path: str | Path, dims: int) -> PreparedImage:
    """Load an image file (NIfTI, NRRD, DICOM folder...) into model space.

    Raises:
        ValueError: a bad ``dims`` or an image that is not 3D.
        Exception: the reader's own error for a file it cannot read.
    """
    model_spacing(dims)
    data = Compose(load_transforms())({"image": str(path)})
    return _prepare(data, dims, f"image '{path}'")


def prepare_array(image: np.ndarray, affine: np.ndarray, dims: int) -> PreparedImage:
    """An in-memory image into model space.

    Args:
        image: (C, X, Y, Z); channel 0 is CT in HU (others are ignored).
        affine: (4, 4) voxel index -> RAS mm.
        dims: 2 or 3.
    """
    model_spacing(dims)
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(f"image must be (C, X, Y, Z), got shape {array.shape}")
    affine = np.asarray(affine, dtype=np.float64)
    meta = {"original_affine": affine, "spatial_shape": np.asarray(array.shape[1:]), "filename_or_obj": "array"}
    tensor = MetaTensor(torch.from_numpy(np.ascontiguousarray(array[:1])), affine=torch.as_tensor(affine), meta=meta)
    return _prepare({"image": tensor}, dims, "image")


__all__ = [
    "CT_WINDOW_HU",
    "SPACING_2D",
    "SPACING_3D",
    "PreparedImage",
    "intensity_transform",
    "load_transforms",
    "model_space_transforms",
    "model_spacing",
    "prepare_array",
    "prepare_file",
    "spatial_transforms",
]
