"""Pre- and post-processing of the automatic model, shared by training, the infer task and evaluation.

Model space: RAS orientation, ``MODEL_SPACING`` mm, CT windowed to ``CT_WINDOW_HU`` and
scaled to [-1, 1] (as 2S-ICR does). The answer is brought back to the input image's own
grid (shape and affine) by inverting the spatial transforms, whatever the orientation.
"""

from __future__ import annotations

from collections.abc import Sequence

from monai.inferers import Inferer, SlidingWindowInferer
from monai.transforms import (
    Activationsd,
    AsDiscreted,
    Compose,
    EnsureChannelFirstd,
    EnsureTyped,
    Invertd,
    LoadImaged,
    MapTransform,
    Orientationd,
    RandCropByPosNegLabeld,
    RandRotated,
    RandScaleIntensityd,
    RandShiftIntensityd,
    ScaleIntensityRanged,
    Spacingd,
)

MODEL_SPACING: tuple[float, float, float] = (3.0, 3.0, 6.0)
CT_WINDOW_HU: tuple[float, float] = (-200.0, 200.0)
TRAIN_PATCH: tuple[int, int, int] = (64, 64, 32)
#: Inference windows are the training patches: InstanceNorm normalises over the window, so a
#: larger window (mostly air around the body) would see other statistics than training did.
INFER_ROI: tuple[int, int, int] = TRAIN_PATCH


def load_transforms(keys: Sequence[str] = ("image", "label")) -> list[MapTransform]:
    """File paths -> (C, X, Y, Z) MetaTensors in model space; the image channel 0 (CT) only."""
    keys = tuple(keys)
    modes = tuple("bilinear" if k == "image" else "nearest" for k in keys)
    return [
        LoadImaged(keys=keys, image_only=True),
        EnsureChannelFirstd(keys=keys),
        KeepFirstChanneld(keys="image"),
        Orientationd(keys=keys, axcodes="RAS"),
        Spacingd(keys=keys, pixdim=MODEL_SPACING, mode=modes),
        ScaleIntensityRanged(keys="image", a_min=CT_WINDOW_HU[0], a_max=CT_WINDOW_HU[1], b_min=-1.0, b_max=1.0, clip=True),
        EnsureTyped(keys=keys),
    ]


class KeepFirstChanneld(MapTransform):
    """Keep channel 0 of a (C, X, Y, Z) image: the CT of a CT + PET study."""

    def __call__(self, data):
        d = dict(data)
        for key in self.key_iterator(d):
            if d[key].shape[0] > 1:
                d[key] = d[key][:1]
        return d


def train_transforms() -> Compose:
    """Random patches, half or more with tumour, small rotations about z and intensity jitter."""
    return Compose(
        [
            *load_transforms(),
            RandCropByPosNegLabeld(
                keys=("image", "label"), label_key="label", spatial_size=TRAIN_PATCH, pos=2, neg=1, num_samples=2
            ),
            RandRotated(keys=("image", "label"), range_z=0.3, prob=0.3, mode=("bilinear", "nearest")),
            RandScaleIntensityd(keys="image", factors=0.1, prob=0.5),
            RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
        ]
    )


def infer_pre_transforms() -> list[MapTransform]:
    """Image path -> model-space (1, X, Y, Z) image."""
    return load_transforms(keys=("image",))


def inferer() -> Inferer:
    """Sliding window of training-patch size over the model-space image, Gaussian-weighted overlaps."""
    return SlidingWindowInferer(roi_size=INFER_ROI, sw_batch_size=1, overlap=0.25, mode="gaussian")


def restore_to_input_grid(pre_transforms: Sequence[MapTransform], key: str = "pred") -> list[MapTransform]:
    """Softmax, bring the probabilities back to the input grid, then argmax to a (1, X, Y, Z) label."""
    return [
        Activationsd(keys=key, softmax=True),
        Invertd(keys=key, transform=Compose(list(pre_transforms)), orig_keys="image", nearest_interp=False),
        AsDiscreted(keys=key, argmax=True),
    ]


__all__ = [
    "CT_WINDOW_HU",
    "INFER_ROI",
    "MODEL_SPACING",
    "TRAIN_PATCH",
    "KeepFirstChanneld",
    "infer_pre_transforms",
    "inferer",
    "load_transforms",
    "restore_to_input_grid",
    "train_transforms",
]
