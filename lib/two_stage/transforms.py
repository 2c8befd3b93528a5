"""2S-ICR's transforms: mask dropout, the crop around the target, the paper's augmentations,
and the click maps of the refinement net.

- :class:`MaskDropout` / :class:`MaskDropoutd` (paper section 4.3): in refinement training
  the previous probability is replaced by a volume of 0.5 ("no information") with
  probability p = 0.2, so the net relies on the image and the clicks, not only on the mask.
  ``randomize`` draws whether to drop; applying is deterministic (:func:`drop_mask`).
- :func:`target_box` / :class:`RandTargetCropd`: the paper crops around the GTV; we crop the
  bounding box of the GTV plus a margin in mm (random in training, 30 mm as the evaluation
  harness does), grown to multiples of 8 voxels.
- :func:`paper_augmentations`: section 4.3's pipeline as MONAI transforms.
- :func:`click_maps`: positive and negative clicks as two Gaussian maps (the DeepGrow /
  DeepEdit encoding; sigma ``SIGMA_VOXELS``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import (
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    Randomizable,
    RandomizableTransform,
    RandShiftIntensityd,
)

from lib.guidance import encode_clicks, gaussian_click_map
from lib.interaction.clicks import Click
from lib.two_stage.network import SIZE_DIVISOR

#: The paper's mask dropout probability and the value that means "no information".
MASK_DROPOUT_P = 0.2
MASK_FILL = 0.5
#: Click map Gaussian sigma in model voxels (X, Y, Z): 6 mm in every direction at 3 x 3 x 6 mm.
SIGMA_VOXELS: tuple[float, float, float] = (2.0, 2.0, 1.0)
#: Margin around the GTV's bounding box, mm: evaluation (the harness's default) and training range.
EVAL_MARGIN_MM = 20.0
TRAIN_MARGIN_MM: tuple[float, float] = (10.0, 30.0)
#: Smallest side of a crop, voxels: the deepest of the three stride-2 levels keeps 2 voxels a side
#: (instance norm needs more than one).
MIN_SIDE = 16
#: Largest random shift of the training crop, model voxels (X, Y, Z).
CROP_JITTER: tuple[int, int, int] = (4, 4, 2)


def drop_mask(previous: torch.Tensor, drop: bool, fill: float = MASK_FILL) -> torch.Tensor:
    """``previous`` itself, or (when ``drop``) a tensor of its shape filled with ``fill``."""
    return torch.full_like(previous, fill) if drop else previous


class MaskDropout(RandomizableTransform):
    """Replace a previous-probability map by a constant 0.5 volume with probability ``prob``.

    Args:
        prob: the dropout probability p (paper 0.2; 0 turns it off).
        fill: the value of a dropped mask (0.5: a post-sigmoid "don't know").

    Raises:
        ValueError: ``prob`` outside [0, 1] or ``fill`` outside [0, 1].
    """

    def __init__(self, prob: float = MASK_DROPOUT_P, fill: float = MASK_FILL) -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob!r}")
        if not 0.0 <= float(fill) <= 1.0:
            raise ValueError(f"fill must be a probability in [0, 1], got {fill!r}")
        super().__init__(prob=float(prob))
        self.fill = float(fill)

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        """``img`` (any shape) or the 0.5 volume; ``randomize=False`` reuses the last draw."""
        if randomize:
            self.randomize(None)
        return drop_mask(torch.as_tensor(img), self._do_transform, self.fill)


class MaskDropoutd(RandomizableTransform, MapTransform):
    """Dictionary wrapper of :class:`MaskDropout`: one draw drops every key's map or none.

    Args:
        keys: the previous-probability keys (default ``"previous"``).
        prob: as :class:`MaskDropout`.
        fill: as :class:`MaskDropout`.
    """

    def __init__(self, keys: KeysCollection = "previous", prob: float = MASK_DROPOUT_P, fill: float = MASK_FILL):
        MapTransform.__init__(self, keys)
        self.dropout = MaskDropout(prob, fill)
        RandomizableTransform.__init__(self, prob=self.dropout.prob)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> MaskDropoutd:
        super().set_random_state(seed, state)
        self.dropout.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.dropout.randomize(None)
        for key in self.key_iterator(d):
            d[key] = self.dropout(d[key], randomize=False)
        return d


def target_box(
    mask: np.ndarray,
    spacing: Sequence[float],
    margin_mm: float | Sequence[float],
    shift: Sequence[int] = (0, 0, 0),
    divisor: int = SIZE_DIVISOR,
    min_side: int = MIN_SIDE,
) -> tuple[slice, slice, slice]:
    """The bounding box of ``mask`` grown by ``margin_mm``, shifted, grown to multiples of ``divisor``
    (and to at least ``min_side`` voxels).

    The box may reach outside the array (negative starts, stops past the end): the crop pads
    there (:func:`crop_padded`), so every box has the same size rule wherever the target is.

    Args:
        mask: (X, Y, Z) bool, not empty.
        spacing: (X, Y, Z) mm per voxel.
        margin_mm: margin per side in mm, one value or one per axis.
        shift: voxels to move the box by, per axis.
        divisor: each side becomes a multiple of this.

    Returns:
        Three unit-step slices (X, Y, Z).

    Raises:
        ValueError: an empty mask or a negative margin.
    """
    margins = np.broadcast_to(np.asarray(margin_mm, dtype=float), (3,))
    if (margins < 0).any():
        raise ValueError(f"margin_mm must be >= 0, got {margin_mm!r}")
    points = np.argwhere(mask)
    if points.size == 0:
        raise ValueError("cannot crop around an empty target mask")
    grow = np.ceil(margins / np.asarray(spacing, dtype=float)).astype(int)
    low = points.min(axis=0) - grow + np.asarray(shift, dtype=int)
    high = points.max(axis=0) + 1 + grow + np.asarray(shift, dtype=int)
    size = high - low
    padded = np.array([divisor * math.ceil(max(s, min_side) / divisor) for s in size])
    low = low - (padded - size) // 2
    return tuple(slice(int(a), int(a + n)) for a, n in zip(low, padded))  # type: ignore[return-value]


def crop_padded(volume: torch.Tensor, box: Sequence[slice], mode: str = "replicate", value: float = 0.0) -> torch.Tensor:
    """The ``box`` of a (C, X, Y, Z) tensor; parts outside the volume are padded.

    Args:
        volume: (C, X, Y, Z).
        box: three unit-step slices; starts may be negative and stops past the end.
        mode: ``"replicate"`` (edge values; images) or ``"constant"`` (``value``; masks, maps).
        value: the constant of ``mode="constant"``.

    Returns:
        (C, *box size) tensor of ``volume``'s dtype.
    """
    shape = volume.shape[1:]
    inner = tuple(slice(max(b.start, 0), min(b.stop, n)) for b, n in zip(box, shape))
    if any(s.stop <= s.start for s in inner):
        raise ValueError(f"box {[(b.start, b.stop) for b in box]} does not overlap the volume {tuple(shape)}")
    part = volume[(slice(None), *inner)]
    before = [s.start - b.start for s, b in zip(inner, box)]
    after = [b.stop - s.stop for s, b in zip(inner, box)]
    if not any(before) and not any(after):
        return part
    pads: list[int] = []
    for lo, hi in reversed(list(zip(before, after))):  # F.pad wants the last axis first
        pads += [lo, hi]
    if mode == "replicate":
        return F.pad(part[None].float(), pads, mode="replicate")[0].to(volume.dtype)
    return F.pad(part, pads, mode="constant", value=value)


def pad_box(shape: Sequence[int], divisor: int = SIZE_DIVISOR) -> tuple[slice, slice, slice]:
    """The whole of a (X, Y, Z) grid, grown at the far end of each axis to multiples of ``divisor``."""
    return tuple(slice(0, divisor * math.ceil(int(n) / divisor)) for n in shape)  # type: ignore[return-value]


class RandTargetCropd(Randomizable, MapTransform):
    """MONAI transform: crop a model-space case around its target, random margin and shift.

    Reads ``image`` (C, X, Y, Z), ``label`` (1, X, Y, Z) label values and the ``map_keys``
    (1, X, Y, Z) probability maps (stage 1's answer); the box is around the target AND the
    maps' foreground (``> 0.5``), as at inference the box is around the previous answer and
    the clicks. Writes the crops (sides multiples of 8; image padded with edge values, the
    others with 0) and ``label`` as a float {0, 1} map of the target value. ``randomize`` draws
    the margin (uniform in ``margin_mm``) and the shift (uniform integers within ``jitter``);
    applying is :func:`target_box` + :func:`crop_padded`.

    Args:
        spacing: model-space mm per voxel (X, Y, Z).
        target: the label value of the target (GTV = 1).
        margin_mm: (low, high) margin range, mm.
        jitter: largest shift per axis, voxels.
        map_keys: probability maps cropped with the image.
    """

    def __init__(
        self,
        spacing: Sequence[float],
        target: int = 1,
        margin_mm: Sequence[float] = TRAIN_MARGIN_MM,
        jitter: Sequence[int] = CROP_JITTER,
        map_keys: Sequence[str] = ("previous",),
    ) -> None:
        super().__init__(keys=("image", "label", *map_keys), allow_missing_keys=True)
        if len(margin_mm) != 2 or not 0 <= margin_mm[0] <= margin_mm[1]:
            raise ValueError(f"margin_mm must be (low, high) with 0 <= low <= high, got {margin_mm!r}")
        self.spacing = tuple(float(s) for s in spacing)
        self.target = int(target)
        self.margin_mm = (float(margin_mm[0]), float(margin_mm[1]))
        self.jitter = tuple(int(j) for j in jitter)
        self.map_keys = tuple(map_keys)
        self.margin = self.margin_mm[0]
        self.shift = (0, 0, 0)

    def randomize(self, data: Any = None) -> None:
        self.margin = float(self.R.uniform(*self.margin_mm))
        self.shift = tuple(int(self.R.randint(-j, j + 1)) for j in self.jitter)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        truth = torch.as_tensor(np.asarray(d["label"])[0] == self.target)
        if not truth.any():
            raise ValueError(f"case {d.get('case', '?')} has no voxel of label {self.target} to crop around")
        around = truth.clone()
        for key in self.map_keys:
            if key in d:
                around |= torch.as_tensor(d[key])[0] > 0.5
        self.randomize()
        box = target_box(around.numpy(), self.spacing, self.margin, self.shift)
        d["image"] = crop_padded(torch.as_tensor(d["image"]).float(), box, "replicate")
        d["label"] = crop_padded(truth[None].float(), box, "constant", 0.0)
        for key in self.map_keys:
            if key in d:
                d[key] = crop_padded(torch.as_tensor(d[key]).float(), box, "constant", 0.0)
        return d


def paper_augmentations(
    image_channels: int,
    translate_voxels: Sequence[float] = (8.0, 8.0, 4.0),
    keys: Sequence[str] = ("image", "label", "previous"),
) -> list[MapTransform]:
    """Section 4.3's augmentation pipeline as MONAI transforms.

    Paper -> ours: affine with rotation up to 45 degrees about every axis, scale and shear
    +-0.1, translation +-32 voxels (of a 144-voxel 1 mm crop), p 0.5 -> the same, translation
    ``translate_voxels`` (about the same fraction of our 3 x 3 x 6 mm crops); mirroring over
    every axis, p 0.5 each; CT only (channel 0): gamma in [0.5, 1.5], intensity shift 0.1,
    Gaussian noise std 0.1, Gaussian smoothing, each p 0.25. With a PET channel the intensity
    augmentations go to a copy of the image whose PET channel is then put back, so PET is
    left unchanged as in the paper.

    ``keys``: the image, the label (nearest interpolation), then any probability maps
    (bilinear; stage 1's answer), all moved together.
    """
    keys = tuple(keys)
    image = keys[0]
    modes = tuple("nearest" if n == 1 else "bilinear" for n in range(len(keys)))
    spatial = [
        RandAffined(
            keys=keys, prob=0.5, rotate_range=(math.pi / 4,) * 3, scale_range=(0.1,) * 3,
            shear_range=(0.1,) * 6, translate_range=tuple(translate_voxels), mode=modes,
            padding_mode="border", allow_missing_keys=True,
        ),
        *(RandFlipd(keys=keys, prob=0.5, spatial_axis=axis, allow_missing_keys=True) for axis in range(3)),
    ]
    intensity = [
        RandAdjustContrastd(keys=image, prob=0.25, gamma=(0.5, 1.5)),
        RandShiftIntensityd(keys=image, prob=0.25, offsets=0.1),
        RandGaussianNoised(keys=image, prob=0.25, std=0.1),
        RandGaussianSmoothd(keys=image, prob=0.25),
    ]
    if image_channels == 1:
        return [*spatial, *intensity]
    return [*spatial, CtOnlyd(intensity, image)]


class CtOnlyd(Randomizable, MapTransform):
    """Apply ``transforms`` to channel 0 (CT) of ``key`` only; the other channels are kept."""

    def __init__(self, transforms: Sequence[MapTransform], key: str = "image") -> None:
        super().__init__(keys=key)
        self.transforms = list(transforms)
        self.key = key

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> CtOnlyd:
        super().set_random_state(seed, state)
        for t in self.transforms:
            if isinstance(t, Randomizable):
                t.set_random_state(seed=int(self.R.randint(2**31 - 1)))
        return self

    def randomize(self, data: Any = None) -> None:
        pass

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = torch.as_tensor(d[self.key])
        ct = {self.key: image[:1].clone()}
        for t in self.transforms:
            ct = t(ct)
        d[self.key] = torch.cat([torch.as_tensor(ct[self.key]).to(image.dtype), image[1:]], dim=0)
        return d


def click_maps(clicks: Iterable[Click], spatial_shape: Sequence[int], sigma: Sequence[float] = SIGMA_VOXELS) -> np.ndarray:
    """Positive and negative clicks as two Gaussian maps.

    Args:
        clicks: voxel indices (i, j, k) on the grid of the maps; clicks outside it are left out.
        spatial_shape: (X, Y, Z) size of the grid.
        sigma: Gaussian sigma in voxels (X, Y, Z).

    Returns:
        (2, X, Y, Z) float32 in [0, 1]: channel 0 positive, channel 1 negative clicks.
    """
    shape = tuple(int(n) for n in spatial_shape)
    inside = [c for c in clicks if all(0 <= v < n for v, n in zip(c.index, shape))]
    return encode_clicks(inside, shape, functools.partial(gaussian_click_map, sigma=tuple(sigma)))


__all__ = [
    "CROP_JITTER",
    "EVAL_MARGIN_MM",
    "MASK_DROPOUT_P",
    "MASK_FILL",
    "MIN_SIDE",
    "SIGMA_VOXELS",
    "TRAIN_MARGIN_MM",
    "CtOnlyd",
    "MaskDropout",
    "MaskDropoutd",
    "RandTargetCropd",
    "click_maps",
    "crop_padded",
    "drop_mask",
    "pad_box",
    "paper_augmentations",
    "target_box",
]
