"""Validation score of the model in training: Dice over the annotated voxels of the validation images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lib.online.patches import ModelSpaceCase
from lib.segmentation.transforms import inferer

#: Structures scored (model classes): 1 GTV, 2 heart.
STRUCTURES: tuple[int, ...] = (1, 2)


@torch.no_grad()
def predict_case(network: torch.nn.Module, case: ModelSpaceCase, device: str | torch.device = "cpu") -> np.ndarray:
    """(X, Y, Z) uint8 classes of a model-space case by the server's sliding-window inferer."""
    network.eval()
    image = torch.as_tensor(case.image[None], device=device)  # (1, 1, X, Y, Z)
    logits = inferer()(image, network)
    return logits[0].argmax(0).to(torch.uint8).cpu().numpy()


def annotated_dice(predictions: Sequence[np.ndarray], cases: Sequence[ModelSpaceCase]) -> float | None:
    """Mean over structures of Dice pooled over the annotated voxels of all cases.

    For each structure (GTV, heart) the overlap and sizes are summed over every case's
    annotated voxels, then Dice = 2|P & Q| / (|P| + |Q|). Pooling keeps small corrective
    annotations from giving noisy per-image scores. Structures absent from every case's
    annotation are left out of the mean; if neither is annotated anywhere (only background
    was painted), the score is the fraction of annotated voxels predicted background.

    Args:
        predictions: (X, Y, Z) classes per case.
        cases: the cases, same order and shapes.

    Returns:
        In [0, 1]; ``None`` when there is no case.
    """
    if not cases:
        return None
    overlap, sizes = np.zeros(len(STRUCTURES)), np.zeros(len(STRUCTURES))
    present = np.zeros(len(STRUCTURES), dtype=bool)
    correct_background, annotated_voxels = 0, 0
    for prediction, case in zip(predictions, cases, strict=True):
        mask = case.annotated
        p, t = prediction[mask], case.classes[mask]
        for n, structure in enumerate(STRUCTURES):
            overlap[n] += np.sum((p == structure) & (t == structure))
            sizes[n] += np.sum(p == structure) + np.sum(t == structure)
            present[n] |= bool(np.any(t == structure))
        correct_background += int(np.sum(p == 0))
        annotated_voxels += int(mask.sum())
    if not present.any():
        return correct_background / max(annotated_voxels, 1)
    return float(np.mean(2 * overlap[present] / sizes[present]))


def validation_dice(
    network: torch.nn.Module, cases: Sequence[ModelSpaceCase], device: str | torch.device = "cpu"
) -> float | None:
    """:func:`annotated_dice` of ``network``'s whole-image predictions; ``None`` without validation cases."""
    return annotated_dice([predict_case(network, case, device) for case in cases], cases)
