"""The model space both 2S-ICR stages work in, for CT (one channel) and PET-CT (two channels).

Model space is the automatic model's: RAS orientation, ``MODEL_SPACING`` = 3 x 3 x 6 mm
(the paper resamples to 1 mm isotropic; our phantoms are 3 mm in plane), and the paper's
intensities: CT windowed to [-200, 200] HU and scaled to [-1, 1]; PET z-scored over the
volume (mean 0, standard deviation 1). The stage-1 CT model shipped in
``models/segmentation`` was trained on exactly this CT channel.

A prepared image is :class:`lib.imaging.prepare.PreparedImage` with ``dims=3``
(model-space image with its affine, the input affine and shape): it maps clicks in
(``clicks_to_model``) and answers out (``to_input_grid``). :func:`to_model_grid` is the
other direction, for a previous answer that arrives on the input grid (the harness's
``previous``, or a label a client uploads).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    MapTransform,
    Orientationd,
    Spacingd,
    SpatialResample,
    Transform,
)

from lib.imaging.prepare import PreparedImage
from lib.segmentation.transforms import MODEL_SPACING

CT_WINDOW_HU: tuple[float, float] = (-200.0, 200.0)
#: Image channels per modality: CT alone, or CT (channel 0) + PET (channel 1).
CHANNELS: dict[str, int] = {"ct": 1, "petct": 2}


def image_channels(modality: str) -> int:
    """1 for ``"ct"``, 2 for ``"petct"``; ValueError naming the value otherwise."""
    if modality not in CHANNELS:
        raise ValueError(f"modality must be one of {sorted(CHANNELS)}, got {modality!r}")
    return CHANNELS[modality]


def window_ct(ct: torch.Tensor, window: Sequence[float] = CT_WINDOW_HU) -> torch.Tensor:
    """CT in HU -> clipped to ``window`` -> linearly to [-1, 1]."""
    low, high = float(window[0]), float(window[1])
    return (torch.clamp(ct, low, high) - low) / (high - low) * 2.0 - 1.0


def z_score(values: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(values - mean) / std`` over the whole tensor (std floored at ``eps``)."""
    return (values - values.mean()) / torch.clamp(values.std(), min=eps)


class PetCtIntensity(Transform):
    """(C, X, Y, Z) image: channel 0 CT windowed to [-1, 1]; channel 1 (PET), if any, z-scored.

    Args:
        window: the CT window in HU, (low, high) with low < high.

    Raises:
        ValueError: a bad window.
    """

    def __init__(self, window: Sequence[float] = CT_WINDOW_HU) -> None:
        if len(window) != 2 or not float(window[0]) < float(window[1]):
            raise ValueError(f"window must be (low, high) HU with low < high, got {window!r}")
        self.window = (float(window[0]), float(window[1]))

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or not 1 <= img.shape[0] <= 2:
            raise ValueError(f"image must be (C, X, Y, Z) with C = 1 (CT) or 2 (CT, PET), got {tuple(img.shape)}")
        out = img.clone().float()
        out[0] = window_ct(img[0].float(), self.window)
        if img.shape[0] == 2:
            out[1] = z_score(img[1].float())
        return out


class PetCtIntensityd(MapTransform):
    """Dictionary wrapper of :class:`PetCtIntensity` (default key ``image``)."""

    def __init__(self, keys: KeysCollection = "image", window: Sequence[float] = CT_WINDOW_HU) -> None:
        super().__init__(keys)
        self.transform = PetCtIntensity(window)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key])
        return d


class KeepChannelsd(MapTransform):
    """Keep the first ``channels`` channels of a (C, X, Y, Z) image; ValueError if it has fewer.

    A PET-CT study stored as (X, Y, Z, 2) loads as (2, X, Y, Z): channel 0 CT, channel 1 PET.
    """

    def __init__(self, keys: KeysCollection, channels: int) -> None:
        super().__init__(keys)
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 (CT) or 2 (CT + PET), got {channels!r}")
        self.channels = channels

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            if d[key].shape[0] < self.channels:
                raise ValueError(
                    f"'{key}' has {d[key].shape[0]} channel(s); this model needs {self.channels} (CT, PET)"
                )
            d[key] = d[key][: self.channels]
        return d


def spatial_transforms(keys: Sequence[str] = ("image",)) -> list[MapTransform]:
    """RAS, then ``MODEL_SPACING`` (bilinear for the image, nearest for labels)."""
    keys = tuple(keys)
    modes = tuple("bilinear" if k == "image" else "nearest" for k in keys)
    return [
        Orientationd(keys=keys, axcodes="RAS", allow_missing_keys=True),
        Spacingd(keys=keys, pixdim=MODEL_SPACING, mode=modes, allow_missing_keys=True),
    ]


def model_space_transforms(channels: int, keys: Sequence[str] = ("image", "label")) -> list[MapTransform]:
    """File paths -> (C, X, Y, Z) model-space image (and (1, X, Y, Z) label), for training."""
    keys = tuple(keys)
    return [
        LoadImaged(keys=keys, image_only=True),
        EnsureChannelFirstd(keys=keys),
        KeepChannelsd("image", channels),
        *spatial_transforms(keys),
        PetCtIntensityd("image"),
    ]


def _prepare(image: MetaTensor, channels: int, name: str) -> PreparedImage:
    if image.ndim != 4 or min(image.shape[1:]) < 1:
        raise ValueError(f"{name} must be a 3D image (C, X, Y, Z), got shape {tuple(image.shape)}")
    input_affine = np.asarray(image.affine, dtype=np.float64)
    input_shape = tuple(int(n) for n in image.shape[1:])
    data = Compose([KeepChannelsd("image", channels), *spatial_transforms(), PetCtIntensityd("image")])(
        {"image": image}
    )
    return PreparedImage(data["image"].float(), input_affine, input_shape, 3)  # type: ignore[arg-type]


def prepare_array(image: np.ndarray, affine: np.ndarray, channels: int = 1) -> PreparedImage:
    """An in-memory image into model space.

    Args:
        image: (C, X, Y, Z) float; channel 0 CT in HU, channel 1 PET (SUV) when ``channels`` is 2.
        affine: (4, 4) voxel index (i, j, k) -> RAS mm.
        channels: 1 (CT) or 2 (CT + PET).

    Returns:
        The prepared image: ``image`` (channels, X', Y', Z') in model space.

    Raises:
        ValueError: not (C, X, Y, Z), or fewer channels than asked for.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(f"image must be (C, X, Y, Z), got shape {array.shape}")
    affine = np.asarray(affine, dtype=np.float64)
    meta = {"original_affine": affine, "spatial_shape": np.asarray(array.shape[1:]), "filename_or_obj": "array"}
    tensor = MetaTensor(torch.from_numpy(np.ascontiguousarray(array)), affine=torch.as_tensor(affine), meta=meta)
    return _prepare(tensor, channels, "image")


def prepare_file(path: str | Path, channels: int = 1) -> PreparedImage:
    """An image file (NIfTI...; PET-CT as (X, Y, Z, 2)) into model space (see :func:`prepare_array`).

    Raises:
        ValueError: not a 3D image, or too few channels.
        Exception: the reader's own error for a file it cannot read.
    """
    data = Compose([LoadImaged(keys="image", image_only=True), EnsureChannelFirstd(keys="image")])(
        {"image": str(path)}
    )
    return _prepare(data["image"], channels, f"image '{path}'")


def to_model_grid(prepared: PreparedImage, volume: np.ndarray, mode: str = "bilinear") -> torch.Tensor:
    """A map on the INPUT grid (e.g. a previous answer) resampled onto the model-space grid.

    Args:
        prepared: the image whose grids are meant.
        volume: (X, Y, Z) values on the input grid (probabilities or a {0, 1} label).
        mode: ``"bilinear"`` or ``"nearest"``.

    Returns:
        (X', Y', Z') float32 tensor on the model-space grid.

    Raises:
        ValueError: ``volume`` is not of the input image's shape.
    """
    values = np.asarray(volume, dtype=np.float32)
    if tuple(values.shape) != tuple(prepared.input_shape):
        raise ValueError(f"previous answer has shape {values.shape}, the image {tuple(prepared.input_shape)}")
    source = MetaTensor(torch.from_numpy(values[None].copy()), affine=torch.as_tensor(prepared.input_affine))
    resample = SpatialResample(mode=mode, padding_mode="border", align_corners=False, dtype=torch.float32)
    out = resample(source, dst_affine=prepared.image.affine.clone().to(torch.float64),
                   spatial_size=prepared.spatial_shape)
    return torch.as_tensor(np.asarray(out[0].detach(), dtype=np.float32))


__all__ = [
    "CHANNELS",
    "CT_WINDOW_HU",
    "KeepChannelsd",
    "PetCtIntensity",
    "PetCtIntensityd",
    "PreparedImage",
    "image_channels",
    "model_space_transforms",
    "prepare_array",
    "prepare_file",
    "spatial_transforms",
    "to_model_grid",
    "window_ct",
    "z_score",
]
