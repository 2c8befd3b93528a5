"""Validation of a Gaussian-click model: Dice after 1, 2 and 5 simulated clicks, per structure.

Fixed samples (:func:`lib.gaussian_click.samples.validation_specs`) and a fixed click seed,
so two checkpoints are compared on the same slices with the same simulated user. Every
structure is measured, also one left out of training (the paper's unseen-structure test);
the score that picks the best checkpoint averages the trained structures only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lib.gaussian_click.click_loop import dice_after_clicks
from lib.gaussian_click.samples import extract_sample, validation_specs
from lib.labels import LABELS

#: Clicks after which validation Dice is reported (the model card's columns).
VALIDATION_CLICKS: tuple[int, ...] = (1, 2, 5)


@dataclass(frozen=True)
class ValidationSet:
    """Validation windows.

    Attributes:
        images: (N, 1, *S) float32 model-space windows.
        truths: (N, *S) bool truth of each window's structure.
        structures: (N,) the structure of each window.
    """

    images: torch.Tensor
    truths: np.ndarray
    structures: tuple[str, ...]


def validation_set(cases: Iterable[Mapping], dims: int, per_structure: int = 6) -> ValidationSet:
    """Windows of every structure of every case.

    Args:
        cases: dicts with model-space ``image`` and ``label``, each (1, X, Y, Z).
        dims: 2 or 3.
        per_structure: 2D slices per structure and case.

    Raises:
        ValueError: no structure in any case.
    """
    images, truths, structures = [], [], []
    for case in cases:
        image, label = np.asarray(case["image"])[0], np.asarray(case["label"])[0]
        for spec in validation_specs(label, dims, LABELS, per_structure):
            crop, truth = extract_sample(image, label, spec, dims)
            images.append(crop[None])
            truths.append(truth)
            structures.append(spec.structure)
    if not images:
        raise ValueError("the validation cases hold no structure to validate on")
    return ValidationSet(torch.from_numpy(np.stack(images)), np.stack(truths), tuple(structures))


def evaluate(
    network: torch.nn.Module,
    data: ValidationSet,
    trained: Sequence[str],
    seed: int = 4242,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    clicks_at: Sequence[int] = VALIDATION_CLICKS,
) -> dict:
    """Mean Dice after each number of clicks, per structure, and the checkpoint score.

    Returns:
        ``{"dice": {structure: {"1": d, "2": d, "5": d}}, "samples": {structure: n},
        "score": mean over ``trained`` structures and clicks_at}``.
    """
    rng = np.random.default_rng(seed)
    per_clicks: dict[int, list[np.ndarray]] = {n: [] for n in clicks_at}
    for start in range(0, len(data.structures), batch_size):
        images = data.images[start : start + batch_size].to(device)
        scores = dice_after_clicks(network, images, data.truths[start : start + batch_size], clicks_at, rng)
        for n in clicks_at:
            per_clicks[n].append(scores[n])
    dice = {n: np.concatenate(v) for n, v in per_clicks.items()}
    names = np.asarray(data.structures)
    result: dict = {"dice": {}, "samples": {}}
    for structure in dict.fromkeys(data.structures):
        chosen = names == structure
        result["dice"][structure] = {str(n): float(dice[n][chosen].mean()) for n in clicks_at}
        result["samples"][structure] = int(chosen.sum())
    kept = [s for s in trained if s in result["dice"]]
    result["score"] = float(np.mean([result["dice"][s][str(n)] for s in kept for n in clicks_at])) if kept else 0.0
    return result


__all__ = ["VALIDATION_CLICKS", "ValidationSet", "evaluate", "validation_set"]
