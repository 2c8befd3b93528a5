"""Dice + cross-entropy computed on annotated voxels only (RootPainter3D's training loss).

Unannotated voxels are zeroed in both the prediction and the target, as the paper puts it,
so they add nothing to the loss and receive exactly zero gradient. With every voxel
annotated the value equals MONAI's ``DiceCELoss(to_onehot_y=True, softmax=True)``: the
mean cross-entropy over voxels plus the mean over (batch element, class) of 1 - soft Dice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: MONAI's default Dice smoothing (numerator and denominator).
SMOOTH = 1e-5


def masked_dice_ce(logits: torch.Tensor, target: torch.Tensor, annotated: torch.Tensor) -> torch.Tensor:
    """Scalar loss of ``logits`` against ``target`` over the ``annotated`` voxels.

    Args:
        logits: (B, C, X, Y, Z) raw network outputs.
        target: (B, X, Y, Z) int64 classes in 0..C-1 (any value where not annotated).
        annotated: (B, X, Y, Z) bool, the voxels that count.

    Returns:
        0-dim tensor: cross-entropy averaged over all annotated voxels of the batch, plus
        1 - soft Dice averaged over the classes and the batch elements having an annotated
        voxel. A batch with no annotated voxel gives 0 (still connected to ``logits``).
    """
    if logits.ndim != 5 or target.shape != (logits.shape[0], *logits.shape[2:]) or annotated.shape != target.shape:
        raise ValueError(
            f"expected logits (B, C, X, Y, Z) and target, annotated (B, X, Y, Z); got {tuple(logits.shape)}, "
            f"{tuple(target.shape)}, {tuple(annotated.shape)}"
        )
    mask = annotated.to(logits.dtype)
    classes = torch.where(annotated, target, torch.zeros_like(target))
    count = mask.sum()
    cross_entropy = (F.cross_entropy(logits, classes, reduction="none") * mask).sum() / count.clamp(min=1.0)

    spatial = tuple(range(2, logits.ndim))
    probabilities = torch.softmax(logits, dim=1) * mask[:, None]
    one_hot = F.one_hot(classes, logits.shape[1]).movedim(-1, 1).to(logits.dtype) * mask[:, None]
    intersection = (probabilities * one_hot).sum(spatial)
    denominator = probabilities.sum(spatial) + one_hot.sum(spatial)
    dice_loss = 1.0 - (2.0 * intersection + SMOOTH) / (denominator + SMOOTH)  # (B, C)
    has_annotation = (mask.flatten(1).sum(1) > 0).to(logits.dtype)  # (B,)
    elements = has_annotation.sum()
    dice = (dice_loss * has_annotation[:, None]).sum() / (elements * logits.shape[1]).clamp(min=1.0)
    return cross_entropy + dice
