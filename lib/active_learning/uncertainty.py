"""Voxel-wise uncertainty of the automatic model on an image file, in the file's own grid.

The uncertainty comes from an ensemble of *members*: each member is one network (the
automatic UNet, and optionally a second architecture trained on the same data, such as
the DynUNet) run on one test-time augmentation of the model-space image. Augmentations
are ones the networks were trained with (small rotations about the model's z axis and
intensity jitter; ``lib.segmentation.transforms.train_transforms``) plus the identity: a
flip would show the networks mirrored anatomy they never saw, and their disagreement would
measure that, not the image.

Each member's softmax (C, X, Y, Z) in model space is brought back to the model grid
(rotations undone), the members are stacked and inverted once to the input file's grid
(the same inversion the infer task uses). The result, :class:`UncertaintyMaps`, holds the
members' mean probabilities and hard labels on the input grid, (X, Y, Z) as stored on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, Rotate

from lib.segmentation.transforms import infer_pre_transforms, inferer

#: Test-time augmentations by name: rotation about the model's z axis (radians) and an
#: intensity scale, both within the training augmentation's range.
AUGMENTATIONS: dict[str, tuple[float, float]] = {
    "identity": (0.0, 1.0),
    "rotate+": (0.2, 1.0),
    "rotate-": (-0.2, 1.0),
    "contrast": (0.0, 1.1),
}
DEFAULT_AUGMENTATIONS: tuple[str, ...] = ("identity", "rotate+", "rotate-", "contrast")


@dataclass(frozen=True)
class UncertaintyMaps:
    """An ensemble's answer on the input file's grid.

    Attributes:
        probabilities: (C, X, Y, Z) float32, the members' mean softmax (C = 3: background,
            GTV, heart), on the input grid.
        member_labels: (M, X, Y, Z) uint8, each member's argmax on the input grid.
        members: the members' names ("<network>/<augmentation>"), in the order of ``member_labels``.
        affine: (4, 4) voxel -> RAS mm affine of the input grid.
    """

    probabilities: np.ndarray
    member_labels: np.ndarray
    members: tuple[str, ...]
    affine: np.ndarray

    @property
    def label(self) -> np.ndarray:
        """(X, Y, Z) uint8: argmax of the mean probabilities (the ensemble's prediction)."""
        return self.probabilities.argmax(0).astype(np.uint8)


def check_augmentations(names: Sequence[str]) -> tuple[str, ...]:
    """The augmentation names, checked against ``AUGMENTATIONS``."""
    names = tuple(names)
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown or not names:
        raise ValueError(f"augmentations must be some of {sorted(AUGMENTATIONS)}, got {list(names)}")
    return names


def _rotate(volume: torch.Tensor, angle: float, mode: str) -> torch.Tensor:
    """(C, X, Y, Z) rotated by ``angle`` radians about the z axis, same size, border padding."""
    return Rotate(angle=(0.0, 0.0, angle), keep_size=True, mode=mode, padding_mode="border")(volume).as_tensor()


@torch.no_grad()
def member_probabilities(network: torch.nn.Module, image: torch.Tensor, augmentation: str) -> torch.Tensor:
    """One member's softmax on the model-space grid.

    Args:
        network: (B, 1, X, Y, Z) -> (B, C, X, Y, Z) logits.
        image: (1, X, Y, Z) model-space image (windowed to [-1, 1]).
        augmentation: a key of ``AUGMENTATIONS``.

    Returns:
        (C, X, Y, Z) float32 probabilities on the (unaugmented) model grid.
    """
    angle, scale = AUGMENTATIONS[augmentation]
    x = torch.as_tensor(image, dtype=torch.float32)
    if scale != 1.0:
        x = torch.clamp(x * scale, -1.0, 1.0)
    if angle:
        x = _rotate(x, angle, "bilinear")
    network.eval()
    probabilities = torch.softmax(inferer()(x[None], network)[0], dim=0)
    if angle:
        probabilities = _rotate(probabilities, -angle, "bilinear")
        probabilities = probabilities / probabilities.sum(0, keepdim=True).clamp_min(1e-6)
    return probabilities.float()


def ensemble_maps(
    networks: Mapping[str, torch.nn.Module],
    image_path: str | Path,
    augmentations: Sequence[str] = DEFAULT_AUGMENTATIONS,
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Every member's probabilities on the input file's grid.

    Args:
        networks: name -> network of the automatic model's input and output.
        image_path: a NIfTI (or any file MONAI loads) image; channel 0 is the CT.
        augmentations: keys of ``AUGMENTATIONS``.

    Returns:
        probabilities: (M, C, X, Y, Z) float32 on the input grid, members in the order of
        ``names``; names: "<network>/<augmentation>"; affine: (4, 4) of the input grid.
    """
    augmentations = check_augmentations(augmentations)
    if not networks:
        raise ValueError("at least one network is needed")
    pre = infer_pre_transforms()
    data = Compose(pre)({"image": str(image_path)})
    image = data["image"]
    names, stack = [], []
    for network_name, network in networks.items():
        for augmentation in augmentations:
            stack.append(member_probabilities(network, image, augmentation))
            names.append(f"{network_name}/{augmentation}")
    channels = stack[0].shape[0]
    data["pred"] = MetaTensor(torch.cat(stack, 0), affine=image.affine, meta=dict(image.meta))
    data = Invertd(keys="pred", transform=Compose(pre), orig_keys="image", nearest_interp=False)(data)
    inverted = np.asarray(data["pred"], dtype=np.float32)
    members = inverted.reshape(len(names), channels, *inverted.shape[1:])
    return members, tuple(names), np.asarray(data["pred"].affine, dtype=np.float64)


def combine_members(members: np.ndarray, names: Sequence[str], affine: np.ndarray,
                    keep: Sequence[str] | None = None, votes: bool = False) -> UncertaintyMaps:
    """Mean probabilities and hard labels of the members named in ``keep`` (default all).

    Args:
        members: (M, C, X, Y, Z) probabilities from :func:`ensemble_maps`.
        names: the M member names.
        affine: (4, 4) of the grid.
        keep: member names to use: exact names, "<network>/" prefixes or "/<augmentation>" suffixes.
        votes: the probabilities are the fractions of members voting each class (their
            argmax), not the mean softmax: for members whose softmax is not calibrated.
    """
    names = tuple(names)
    if keep is None:
        chosen = list(range(len(names)))
    else:
        chosen = [i for i, n in enumerate(names)
                  if any(n == k or (k.endswith("/") and n.startswith(k)) or (k.startswith("/") and n.endswith(k))
                         for k in keep)]
    if not chosen:
        raise ValueError(f"no member of {list(names)} matches {list(keep or [])}")
    selected = members[chosen]
    labels = selected.argmax(1).astype(np.uint8)
    if votes:
        classes = selected.shape[1]
        probabilities = np.stack([(labels == c).mean(0) for c in range(classes)]).astype(np.float32)
    else:
        probabilities = selected.mean(0).astype(np.float32)
    return UncertaintyMaps(
        probabilities=probabilities,
        member_labels=labels,
        members=tuple(names[i] for i in chosen),
        affine=np.asarray(affine, dtype=np.float64),
    )


def uncertainty_maps(
    networks: Mapping[str, torch.nn.Module],
    image_path: str | Path,
    augmentations: Sequence[str] = DEFAULT_AUGMENTATIONS,
) -> UncertaintyMaps:
    """The ensemble of ``networks`` x ``augmentations`` on ``image_path``, on its own grid."""
    members, names, affine = ensemble_maps(networks, image_path, augmentations)
    return combine_members(members, names, affine)
