"""The paper's training procedure: simulated clicks in prediction mode, then one step.

Section III-C of the paper: each batch is first run K times in "prediction" mode (no
gradient, no update), K the maximum number of interactions. Round k adds, with a probability
that falls linearly with k, one click simulated from the current errors
(:func:`lib.simulators.exp_chamfer_click`); the first click is simulated against an all-zero
prediction, so it always lands inside the structure. Then the final (image, truth, guidance)
tuple is trained on with the average Dice loss. The number of clicks a sample ends with is
anywhere from 1 to K, which teaches the network to do well with few clicks.

Round k (0-based) adds a click with probability ``1 - k / K``: 1 for the first click, then
(K-1)/K, ..., 1/K. Prediction rounds run the network in eval mode (batch norm with its
running statistics, as at inference); the step runs it in train mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from lib.gaussian_click.inputs import SIGMA_VOXELS, encode_guidance
from lib.interaction.clicks import Click
from lib.metrics import dice
from lib.simulators import exp_chamfer_click

#: The paper's choices of the maximum number of interactions, one per experiment.
MAX_INTERACTIONS_CHOICES: tuple[int, ...] = (1, 2, 5, 10, 15)

#: Extra input channels of one sample from its clicks: ``condition(b, clicks) -> (C', *S) float32``
#: (the universal model's graph-cut proposal); None: the paper's image + guidance only.
Condition = Callable[[int, Sequence[Click]], np.ndarray]


def click_probability(k: int, max_interactions: int) -> float:
    """Probability that round ``k`` (0-based) adds a click: ``1 - k / K``."""
    return 1.0 - k / max_interactions


def _as_volume(mask: np.ndarray) -> np.ndarray:
    """A 2D (H, W) mask as (H, W, 1) for the 3D simulator; a 3D one as is."""
    return mask[..., None] if mask.ndim == 2 else mask


def simulated_click(pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> Click | None:
    """The paper's next click on one sample (2D (H, W) or 3D (X, Y, Z) bool masks), or None."""
    slice_axis = 2 if pred.ndim == 2 else None
    return exp_chamfer_click(_as_volume(pred), _as_volume(truth), rng, slice_axis=slice_axis)


@torch.no_grad()
def predict_probability(network: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Sigmoid of the network on (B, 3, *S) inputs, in eval mode; the mode is restored after."""
    was_training = network.training
    network.eval()
    try:
        return torch.sigmoid(network(inputs))[:, 0]
    finally:
        network.train(was_training)


def guidance_batch(clicks: Sequence[Sequence[Click]], size: Sequence[int], sigma: Sequence[float]) -> torch.Tensor:
    """(B, 2, *size) float32 guidance of each sample's clicks."""
    return torch.from_numpy(np.stack([encode_guidance(c, size, sigma) for c in clicks]))


def network_inputs(images: torch.Tensor, clicks: Sequence[Sequence[Click]], sigma: Sequence[float],
                   condition: Condition | None = None) -> torch.Tensor:
    """(B, 3 [+ C'], *S) network inputs: the images, each sample's guidance and its condition channels."""
    size = tuple(images.shape[2:])
    parts = [images, guidance_batch(clicks, size, sigma).to(images.device)]
    if condition is not None:
        extra = np.stack([np.asarray(condition(b, c), dtype=np.float32) for b, c in enumerate(clicks)])
        parts.append(torch.from_numpy(extra).to(images.device))
    return torch.cat(parts, dim=1)


def simulate_interactions(
    network: torch.nn.Module,
    images: torch.Tensor,
    truths: np.ndarray,
    max_interactions: int,
    rng: np.random.Generator,
    sigma: Sequence[float] = SIGMA_VOXELS,
    condition: Condition | None = None,
) -> tuple[torch.Tensor, list[list[Click]]]:
    """Run the paper's K prediction rounds on a batch; return the final guidance and clicks.

    Args:
        network: the network being trained (left in the mode it was in).
        images: (B, 1, *S) model-space image windows, on the network's device.
        truths: (B, *S) bool truth of each sample's structure.
        max_interactions: K, the number of rounds (>= 1).
        rng: source of every random choice (click places and whether a round clicks).
        sigma: Gaussian sigma in voxels (X, Y, Z).
        condition: extra input channels from the clicks (:data:`Condition`), or None.

    Returns:
        guidance (B, 2, *S) float32 on ``images``' device, and each sample's clicks (model
        window indices; a sample with an empty truth gets none).
    """
    if isinstance(max_interactions, bool) or not isinstance(max_interactions, int) or max_interactions < 1:
        raise ValueError(f"max_interactions must be an integer >= 1, got {max_interactions!r}")
    size = tuple(images.shape[2:])
    batch = images.shape[0]
    clicks: list[list[Click]] = [[] for _ in range(batch)]
    preds = np.zeros(truths.shape, dtype=bool)  # the first click is simulated against nothing
    guidance = guidance_batch(clicks, size, sigma).to(images.device)
    for k in range(max_interactions):
        adding = [rng.random() < click_probability(k, max_interactions) for _ in range(batch)]
        if not any(adding):
            continue
        if k > 0:
            probability = predict_probability(network, network_inputs(images, clicks, sigma, condition))
            preds = probability.cpu().numpy() > 0.5
        for b in np.flatnonzero(adding):
            click = simulated_click(preds[b], truths[b], rng)
            if click is not None:
                clicks[b].append(click)
        guidance = guidance_batch(clicks, size, sigma).to(images.device)
    return guidance, clicks


def train_step(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_function: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    max_interactions: int,
    rng: np.random.Generator,
    sigma: Sequence[float] = SIGMA_VOXELS,
    condition: Condition | None = None,
) -> tuple[float, list[list[Click]]]:
    """One training iteration of the paper: simulated interactions, then one optimiser step.

    Args:
        images: (B, 1, *S) image windows on the network's device.
        labels: (B, 1, *S) float {0, 1} truth, same device.
        Others: as :func:`simulate_interactions`; ``loss_function`` takes (logits, labels).

    Returns:
        The loss value, and the clicks each sample was trained with.
    """
    truths = labels[:, 0].detach().cpu().numpy() > 0.5
    _, clicks = simulate_interactions(network, images, truths, max_interactions, rng, sigma, condition)
    network.train()
    optimizer.zero_grad()
    loss = loss_function(network(network_inputs(images, clicks, sigma, condition)), labels)
    loss.backward()
    optimizer.step()
    return float(loss.detach()), clicks


def dice_after_clicks(
    network: torch.nn.Module,
    images: torch.Tensor,
    truths: np.ndarray,
    clicks_at: Sequence[int],
    rng: np.random.Generator,
    sigma: Sequence[float] = SIGMA_VOXELS,
    condition: Condition | None = None,
) -> dict[int, np.ndarray]:
    """Interactive accuracy: Dice of each sample after n simulated clicks, for each n asked.

    Clicks are added one per round, always (the first against an all-zero prediction, each
    next one from the current errors), as the paper's evaluation does; a perfect answer
    stops getting clicks.

    Returns:
        {n: (B,) float Dice (lib.metrics conventions) after n clicks}.
    """
    clicks: list[list[Click]] = [[] for _ in range(images.shape[0])]
    preds = np.zeros(truths.shape, dtype=bool)
    scores: dict[int, np.ndarray] = {}
    for n in range(1, max(clicks_at) + 1):
        for b in range(images.shape[0]):
            click = simulated_click(preds[b], truths[b], rng)
            if click is not None:
                clicks[b].append(click)
        preds = predict_probability(network, network_inputs(images, clicks, sigma, condition)).cpu().numpy() > 0.5
        if n in clicks_at:
            scores[n] = np.array([dice(_as_volume(p), _as_volume(t)) for p, t in zip(preds, truths)], dtype=float)
    return scores


__all__ = [
    "MAX_INTERACTIONS_CHOICES",
    "Condition",
    "click_probability",
    "dice_after_clicks",
    "network_inputs",
    "predict_probability",
    "simulate_interactions",
    "simulated_click",
    "train_step",
]
