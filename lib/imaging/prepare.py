"""An image in a click model's space, and its answers back on the input grid (every method's home).

DIN, 2S-ICR, propagation, the Gaussian-click and universal click models and the infer tasks
import it from here.

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

A :class:`PreparedImage` keeps the model-space image together with what is needed to map
clicks in (``clicks_to_model``) and answers out (``to_input_grid``): the model-space affine
(on the MetaTensor) and the input affine and shape. Answers go back by resampling from the
model grid onto the input grid with MONAI's ``SpatialResample``, which is what inverting
``Spacing`` and ``Orientation`` does, but restricted to the box the network answered for.
It is what the session cache holds.
"""

from __future__ import annotations

import functools
import math
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
    SpatialResample,
)
from scipy import ndimage

from lib.imaging.boxes import Box, clip_box, full_box, intersect_box, is_empty, mask_box, shift_box
from lib.imaging.intensity import CT_WINDOW_HU
from lib.imaging.resample import axis_map, resample_axis_aligned
from lib.interaction.clicks import Click
from lib.interaction.coordinates import indices_to_world, round_to_voxel
from lib.segmentation.transforms import KeepFirstChanneld

#: :meth:`PreparedImage.to_input_label_boxes` resamples at most this many parts' boxes one by one.
MAX_LABEL_BOXES = 64
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
        image: (1, X', Y', Z') float32 MetaTensor in model space, with its affine.
        input_affine: (4, 4) voxel index -> RAS mm of the input image.
        input_shape: (X, Y, Z) size of the input image.
        dims: 2 or 3, the model the space was made for.
    """

    image: MetaTensor
    input_affine: np.ndarray
    input_shape: tuple[int, int, int]
    dims: int

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        """(X', Y', Z') size of the model-space image."""
        x, y, z = self.image.shape[1:]
        return int(x), int(y), int(z)

    @functools.cached_property
    def model_affine(self) -> np.ndarray:
        """(4, 4) float64 model voxel index -> RAS mm (the MetaTensor's, read once)."""
        return np.asarray(self.image.affine, dtype=np.float64)

    @functools.cached_property
    def _inverses(self) -> tuple[np.ndarray, np.ndarray]:
        """(RAS mm -> model voxel, RAS mm -> input voxel), inverted once per image, not per box."""
        return np.linalg.inv(self.model_affine), np.linalg.inv(self.input_affine)

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
        world = indices_to_world([c.index for c in checked], self.input_affine)
        positions = world @ self._inverses[0][:3, :3].T + self._inverses[0][:3, 3]  # as map_points, inverse kept
        nearest = round_to_voxel(np.clip(positions, 0, np.asarray(self.spatial_shape) - 1))
        return [Click(tuple(int(v) for v in p), c.positive) for p, c in zip(nearest, checked)]  # type: ignore[misc]

    def to_input_grid(
        self, volume: np.ndarray | torch.Tensor, region: tuple[slice, slice, slice] | None = None,
        fast: bool = True,
    ) -> np.ndarray:
        """A model-space map resampled onto the input image's grid (bilinear), 0 outside ``region``.

        :meth:`to_input_box` on ``region`` (None: the whole grid), pasted into a zero volume.

        Returns:
            (X, Y, Z) float32 on the input grid, whose affine is ``input_affine``.
        """
        box = region if region is not None else full_box(self.input_shape)
        grid = np.zeros(self.input_shape, dtype=np.float32)
        if not is_empty(box):
            grid[box] = self.to_input_box(volume, box, fast)
        return grid

    def to_input_box(self, volume: np.ndarray | torch.Tensor, region: Box, fast: bool = True) -> np.ndarray:
        """A model-space map resampled onto one box of the input image's grid (bilinear).

        This is the inverse of the spatial transforms: MONAI's ``SpatialResample`` from the
        model-space affine to the input affine, as inverting ``Spacing`` and ``Orientation``
        does (border padding too: input voxels just beyond the model grid's last voxel centre
        take its value), computed only for ``region`` (e.g. :meth:`input_region` of the window
        the network saw): a 2D answer costs one slice, not the whole volume. When the two
        grids' axes are parallel (all but oblique images) the same values come from separable
        1D interpolation (:mod:`lib.imaging.resample`); ``fast=False`` forces MONAI's general
        resampler.

        Args:
            volume: (X', Y', Z') values on the model-space grid (e.g. probabilities).
            region: a box of the INPUT grid (three unit-step slices, inside it).

        Returns:
            float32 of the box's shape.
        """
        values = torch.as_tensor(np.asarray(volume, dtype=np.float32))
        if tuple(values.shape) != self.spatial_shape:
            raise ValueError(f"volume shape {tuple(values.shape)} differs from the model space {self.spatial_shape}")
        start = np.array([b.start for b in region], dtype=np.float64)
        size = [b.stop - b.start for b in region]
        if min(size) <= 0:
            return np.zeros([max(n, 0) for n in size], dtype=np.float32)
        destination = self.input_affine.copy()
        destination[:3, 3] += destination[:3, :3] @ start  # the box's own voxel (0, 0, 0)
        model_affine = self.model_affine
        mapping = axis_map(self._inverses[0] @ destination) if fast else None
        if mapping is not None:  # the grids' axes are parallel: separable, same values, far cheaper
            return resample_axis_aligned(values, mapping, size).numpy()
        source = MetaTensor(values[None], affine=torch.as_tensor(model_affine))
        resample = SpatialResample(mode="bilinear", padding_mode="border", align_corners=False, dtype=torch.float32)
        out = resample(source, dst_affine=torch.as_tensor(destination), spatial_size=size)
        return np.asarray(out[0].detach().cpu(), dtype=np.float32)

    def to_input_label(self, volume: np.ndarray | torch.Tensor, threshold: float = 0.5) -> np.ndarray:
        """(X, Y, Z) bool ``to_input_grid(volume) > threshold``, resampled only where it can be true
        (:meth:`to_input_label_boxes`)."""
        return self.to_input_label_boxes(volume, threshold)[0]

    def to_input_label_boxes(self, volume: np.ndarray | torch.Tensor, threshold: float = 0.5,
                             max_boxes: int = MAX_LABEL_BOXES) -> tuple[np.ndarray, list[Box]]:
        """(X, Y, Z) bool ``to_input_grid(volume) > threshold`` and the input boxes that hold it.

        Bilinear values above ``threshold`` need a model voxel above it within one voxel, so only
        the input box of each connected part (26-connected) of those model voxels, grown by one,
        is resampled: an answer in several scattered parts costs their boxes, not the box around
        all of them. More than ``max_boxes`` parts: one box around them all. The values are the
        same as one resampling of the whole grid (each box's voxels are interpolated from the
        whole model volume).

        Args:
            volume: (X', Y', Z') values on the model-space grid (e.g. a probability).
            threshold: what counts as the structure.
            max_boxes: the most boxes resampled one by one.
        """
        values = np.asarray(volume, dtype=np.float32)
        above = values > threshold
        label = np.zeros(self.input_shape, dtype=bool)
        region = mask_box(above)
        if region is None:
            return label, []
        parts, count = ndimage.label(above[region], np.ones((3, 3, 3), dtype=bool))  # only where there is any
        found = ndimage.find_objects(parts) if count <= max_boxes else [tuple(slice(0, n) for n in parts.shape)]
        model_boxes = [shift_box(part, [r.start for r in region]) for part in found]
        boxes = []
        for model_box in model_boxes:
            box = self.reach_region(model_box)
            label[box] |= self.to_input_box(values, box) > threshold
            boxes.append(box)
        return label, boxes

    def to_input_label_update(self, volume: np.ndarray | torch.Tensor, before: tuple[np.ndarray, list[Box]],
                              changed: Box, threshold: float = 0.5) -> tuple[np.ndarray, list[Box]]:
        """:meth:`to_input_label_boxes` of ``volume``, from that of a model-space volume equal to it
        outside the model box ``changed`` (``before``: its ``(mask, boxes)``, not modified).

        Outside the input voxels a resampling of ``changed`` can reach (:meth:`reach_region`) the
        label is ``before``'s; inside, it is resampled where ``volume`` is above ``threshold`` near
        the box (every model voxel those input voxels read: they lie within one model voxel plus one
        input voxel of the box, and read neighbours within one model voxel).
        A click that changes one region of a large study costs that region, not every part of the
        answer again. Boxes of ``before`` inside the reach are dropped, the new one added.

        Args:
            volume: (X', Y', Z') values on the model-space grid.
            before: the mask (X, Y, Z) bool on the input grid and its boxes.
            changed: three unit-step slices of the model grid (may reach past it).
        """
        inner = clip_box([b.start for b in changed], [b.stop for b in changed], self.spatial_shape)
        mask, boxes = before
        if is_empty(inner):
            return mask, list(boxes)
        values = np.asarray(volume, dtype=np.float32)
        reach = self.reach_region(inner)
        mask = mask.copy()
        mask[reach] = False
        kept = [b for b in boxes if not all(r.start <= a.start and a.stop <= r.stop for a, r in zip(b, reach))]
        sizes = [np.linalg.norm(a[:3, :3], axis=0) for a in (self.input_affine, self.model_affine)]
        near = 3 + math.ceil(sizes[0].max() / sizes[1].min())  # model voxels, whatever the axes' order
        read = clip_box([b.start - near for b in inner], [b.stop + near for b in inner], self.spatial_shape)
        found = mask_box(values[read] > threshold)
        if found is None:
            return mask, kept
        box = intersect_box(self.reach_region(shift_box(found, [r.start for r in read])), reach)
        if box is None:
            return mask, kept
        mask[box] = self.to_input_box(values, box) > threshold
        return mask, [*kept, box]

    def reach_region(self, model_box: Box, within: Box | None = None) -> Box:
        """The input box outside which resampling (:meth:`to_input_box`) a model-space map that is 0
        outside ``model_box`` gives 0: :meth:`input_region` of the box grown by one model voxel
        (bilinear interpolation reads the neighbours within one voxel), clipped to the model grid.

        Args:
            model_box: three unit-step slices into the model-space grid (X, Y, Z), not empty.
            within: a model-space box holding ``model_box`` whose :meth:`input_region` is all the
                caller resamples (e.g. a network's window); the growth stops at its sides, so the
                result lies inside that region and agrees with it wherever a value can come from
                ``model_box``.
        """
        low = [b.start - 1 for b in model_box]
        high = [b.stop + 1 for b in model_box]
        if within is not None:
            low = [max(v, w.start) for v, w in zip(low, within)]
            high = [min(v, w.stop) for v, w in zip(high, within)]
        return self.input_region(clip_box(low, high, self.spatial_shape))

    def input_region(self, box: tuple[slice, slice, slice], margin: int = 1) -> tuple[slice, slice, slice]:
        """The box of the input grid whose voxel centres lie in a model-space box, plus ``margin`` voxels.

        Args:
            box: three unit-step slices into the model-space grid.
            margin: extra input voxels per side (bilinear interpolation reaches one voxel further).
        """
        low = np.array([b.start for b in box], dtype=float) - 0.5
        high = np.array([b.stop for b in box], dtype=float) - 0.5
        corners = np.array(np.meshgrid(*zip(low, high), indexing="ij")).reshape(3, -1).T
        world = corners @ self.model_affine[:3, :3].T + self.model_affine[:3, 3]  # as map_points, inverse kept
        inside = world @ self._inverses[1][:3, :3].T + self._inverses[1][:3, 3]
        first = np.maximum(np.ceil(inside.min(axis=0)).astype(int) - margin, 0)
        last = np.minimum(np.floor(inside.max(axis=0)).astype(int) + margin, np.asarray(self.input_shape) - 1)
        return tuple(slice(int(a), int(b) + 1) for a, b in zip(first, last))  # type: ignore[return-value]


def _check_image(image: MetaTensor, name: str) -> None:
    """A (C, X, Y, Z) image; ValueError naming it otherwise."""
    if image.ndim != 4 or min(image.shape[1:]) < 1:
        raise ValueError(f"{name} must be a 3D image (C, X, Y, Z), got shape {tuple(image.shape)}")


def _prepare(data: dict, dims: int, name: str) -> PreparedImage:
    """Model space from a dict holding a (C, X, Y, Z) MetaTensor ``image`` as stored."""
    _check_image(data["image"], name)
    input_affine = np.asarray(data["image"].affine, dtype=np.float64)
    input_shape = tuple(int(n) for n in data["image"].shape[1:])
    data = Compose([*spatial_transforms(dims), intensity_transform()])(data)
    image = data["image"].float()
    return PreparedImage(image, input_affine, input_shape, dims)  # type: ignore[arg-type]


def prepare_file(path: str | Path, dims: int) -> PreparedImage:
    """Load an image file (NIfTI, NRRD, DICOM folder...) into model space.

    Raises:
        ValueError: a bad ``dims`` or an image that is not 3D.
        Exception: the reader's own error for a file it cannot read.
    """
    model_spacing(dims)
    data = Compose(load_transforms())({"image": str(path)})
    return _prepare(data, dims, f"image '{path}'")


def first_channel_tensor(image: np.ndarray, affine: np.ndarray) -> MetaTensor:
    """Channel 0 of an in-memory (C, X, Y, Z) image as a (1, X, Y, Z) MetaTensor with its (4, 4)
    voxel -> RAS mm affine and the metadata the loading transforms would give a file.

    Raises:
        ValueError: ``image`` is not 4D.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 4:
        raise ValueError(f"image must be (C, X, Y, Z), got shape {array.shape}")
    affine = np.asarray(affine, dtype=np.float64)
    meta = {"original_affine": affine, "spatial_shape": np.asarray(array.shape[1:]), "filename_or_obj": "array"}
    return MetaTensor(torch.from_numpy(np.ascontiguousarray(array[:1])), affine=torch.as_tensor(affine), meta=meta)


def prepare_array(image: np.ndarray, affine: np.ndarray, dims: int) -> PreparedImage:
    """An in-memory image into model space.

    Args:
        image: (C, X, Y, Z); channel 0 is CT in HU (others are ignored).
        affine: (4, 4) voxel index -> RAS mm.
        dims: 2 or 3.
    """
    model_spacing(dims)
    return _prepare({"image": first_channel_tensor(image, affine)}, dims, "image")


__all__ = [
    "CT_WINDOW_HU",
    "SPACING_2D",
    "SPACING_3D",
    "PreparedImage",
    "first_channel_tensor",
    "intensity_transform",
    "load_transforms",
    "model_space_transforms",
    "model_spacing",
    "prepare_array",
    "prepare_file",
    "spatial_transforms",
]
