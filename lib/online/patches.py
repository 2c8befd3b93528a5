"""Annotated images in model space, training patches centred on annotation, annotated tiles.

Model space is the segmentation model's (``lib.segmentation.transforms``): RAS,
``MODEL_SPACING`` mm, CT windowed to [-1, 1]. Arrays here are (X, Y, Z) in that space,
padded to at least ``TRAIN_PATCH`` so every patch has the full size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

from lib.online.annotation import check_annotation, full_label_as_annotation, to_training_target
from lib.segmentation.transforms import TRAIN_PATCH, load_transforms

#: Model-space image value of padding: the bottom of the CT window (air).
PAD_IMAGE_VALUE = -1.0


@dataclass(frozen=True)
class ModelSpaceCase:
    """One annotated image resampled to model space.

    Attributes:
        image: (1, X, Y, Z) float32 model-space CT.
        classes: (X, Y, Z) uint8 training classes (0 background, 1 GTV, 2 heart; 0 where not annotated).
        annotated: (X, Y, Z) bool, voxels the user annotated.
        annotated_indices: (N,) int64 flat indices of ``annotated``, the possible patch centres.
    """

    image: np.ndarray
    classes: np.ndarray
    annotated: np.ndarray
    annotated_indices: np.ndarray


def load_case(image_path: str | Path, annotation_path: str | Path, full: bool) -> ModelSpaceCase:
    """Load an image and its annotation and resample both to model space.

    A full label is first rewritten as an annotation of every voxel (background -> 3), so
    that after nearest-neighbour resampling the padding outside the original field of
    view reads 0 = not annotated rather than background.

    Raises:
        ValueError: the annotation does not fit the image or is not a valid annotation
            (see :func:`lib.online.annotation.check_annotation`).
    """
    steps = load_transforms(("image", "label"))
    split = next(i for i, step in enumerate(steps) if isinstance(step, EnsureChannelFirstd)) + 1
    if not isinstance(steps[0], LoadImaged):
        raise RuntimeError("lib.segmentation.transforms.load_transforms no longer starts with LoadImaged")
    data = Compose(steps[:split])({"image": str(image_path), "label": str(annotation_path)})
    label = data["label"]  # (1, X, Y, Z) on the image grid
    try:
        check_annotation(np.asarray(label[0]), tuple(data["image"].shape[1:]), full=full)
    except ValueError as error:
        raise ValueError(f"{annotation_path}: {error}") from error
    encoded = full_label_as_annotation(np.asarray(label)) if full else np.asarray(label)
    data["label"] = label.clone()
    data["label"][:] = torch.as_tensor(encoded.astype(np.float32))
    data = Compose(steps[split:])(data)
    image = np.asarray(data["image"], dtype=np.float32)
    annotation = np.rint(np.asarray(data["label"][0])).astype(np.uint8)
    return case_from_arrays(image, annotation)


def case_from_arrays(image: np.ndarray, annotation: np.ndarray) -> ModelSpaceCase:
    """Model-space (1, X, Y, Z) image and (X, Y, Z) corrective annotation (0..3) -> padded case."""
    classes, annotated = to_training_target(annotation, full=False)
    pad = [(0, max(0, p - n)) for n, p in zip(annotated.shape, TRAIN_PATCH)]
    image = np.pad(image, [(0, 0), *pad], constant_values=PAD_IMAGE_VALUE).astype(np.float32)
    classes = np.pad(classes.astype(np.uint8), pad)
    annotated = np.pad(annotated, pad)
    return ModelSpaceCase(image, classes, annotated, np.flatnonzero(annotated))


def random_patch_corner(
    case: ModelSpaceCase, rng: np.random.Generator, size: tuple[int, int, int] = TRAIN_PATCH
) -> tuple[int, int, int]:
    """Draw the (X, Y, Z) lower corner of a ``size`` patch centred on a random annotated voxel.

    The centre is moved inwards where the patch would leave the volume (as MONAI's
    ``RandCropByPosNegLabeld`` with pos=1, neg=0 does), so the patch always holds annotation.
    """
    if case.annotated_indices.size == 0:
        raise ValueError("cannot sample a patch from a case with no annotated voxel")
    centre = np.unravel_index(int(rng.choice(case.annotated_indices)), case.annotated.shape)
    return tuple(
        int(min(max(c - s // 2, 0), n - s)) for c, s, n in zip(centre, size, case.annotated.shape)
    )  # type: ignore[return-value]


def crop_patch(
    case: ModelSpaceCase, corner: tuple[int, int, int], size: tuple[int, int, int] = TRAIN_PATCH
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The patch at ``corner``: image (1, *size) float32, classes (*size) int64, annotated (*size) bool."""
    window = tuple(slice(c, c + s) for c, s in zip(corner, size))
    return case.image[(slice(None), *window)], case.classes[window].astype(np.int64), case.annotated[window]


def annotated_tile_count(annotated: np.ndarray, tile: tuple[int, int, int] = TRAIN_PATCH) -> int:
    """Number of tiles with at least one annotated voxel, ``tile`` voxels each, tiling from the origin.

    This is RootPainter3D's v, "the number of patches containing annotation in the
    validation set": the volume is cut into a regular grid of non-overlapping ``tile``
    blocks starting at voxel (0, 0, 0), the last block along an axis being partial.

    Args:
        annotated: (X, Y, Z) bool in model space.
        tile: block size in voxels, (X, Y, Z).
    """
    annotated = np.asarray(annotated, dtype=bool)
    pad = [(0, -n % t) for n, t in zip(annotated.shape, tile)]
    blocks = np.pad(annotated, pad)
    (x, y, z), (tx, ty, tz) = blocks.shape, tile
    return int(blocks.reshape(x // tx, tx, y // ty, ty, z // tz, tz).any(axis=(1, 3, 5)).sum())
