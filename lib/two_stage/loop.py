"""One refinement-training iteration of 2S-ICR: an optimiser step at EVERY simulated interaction.

Paper section 4.3: "The refinement network of the 2S-ICR framework was optimized in every
interaction event during training", with the number of interactions per iteration uniform
in 1..15. An iteration on one sample (image crop, truth, stage 1's answer y0):

    previous = y0;  C = {}
    for t = 1 .. n  (n uniform in 1..15):
        c = border-distance click of (previous > 0.5) against the truth   (stop if perfect)
        C = C + {c}
        logits = f_IDL(image, mask_dropout(previous), C)                   (p = 0.2 -> 0.5 volume)
        loss = Dice + BCE (equal weights); backward; optimiser step
        previous = sigmoid(logits), detached

Stage 1 is frozen: its answer is computed before (:mod:`lib.two_stage.train` caches it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from monai.losses import DiceCELoss

from lib.interaction.clicks import Click
from lib.simulators import border_distance_click
from lib.two_stage.engine import refinement_input
from lib.two_stage.transforms import MaskDropout

#: Interactions per training iteration: uniform in 1..15 (validation uses 10).
MIN_INTERACTIONS, MAX_INTERACTIONS = 1, 15


def dice_bce_loss() -> torch.nn.Module:
    """The paper's L = L_Dice + L_BCE (equal weights, epsilon 1e-5) on one sigmoid channel."""
    return DiceCELoss(sigmoid=True, lambda_dice=1.0, lambda_ce=1.0, smooth_nr=1e-5, smooth_dr=1e-5)


def refinement_iteration(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_function: torch.nn.Module,
    image: torch.Tensor,
    truth: torch.Tensor,
    first_previous: torch.Tensor,
    rng: np.random.Generator,
    dropout: MaskDropout,
    spacing: Sequence[float],
    interactions: int | None = None,
    before_step: Callable[[], None] | None = None,
) -> dict:
    """Train on one sample with 1..15 simulated interactions, one optimiser step each.

    Args:
        network: the refinement net (set to train mode here).
        optimizer: its optimiser.
        loss_function: takes (logits (1, 1, *S), truth (1, 1, *S)).
        image: (C, X, Y, Z) model-space crop, sides multiples of 8.
        truth: (X, Y, Z) bool or {0, 1} target.
        first_previous: (X, Y, Z) stage 1's probability on the crop (y0).
        rng: draws the number of interactions and the clicks.
        dropout: the mask dropout (its own MONAI random state).
        spacing: model-space mm per voxel, for the click simulator's distances.
        interactions: a fixed number (tests); None draws it uniformly in 1..15.
        before_step: called before every optimiser step (e.g. to set the learning rate).

    Returns:
        ``{"steps", "losses", "clicks"}``: optimiser steps taken, their losses, the clicks (model space).
    """
    n = int(rng.integers(MIN_INTERACTIONS, MAX_INTERACTIONS + 1)) if interactions is None else int(interactions)
    target = torch.as_tensor(truth).bool()
    truth_np = target.numpy()
    labels = target[None, None].float()
    previous = torch.as_tensor(first_previous).float()
    clicks: list[Click] = []
    losses: list[float] = []
    network.train()
    for _ in range(n):
        click = border_distance_click(previous.numpy() > 0.5, truth_np, rng, spacing)
        if click is None:  # nothing left to correct
            break
        clicks.append(click)
        inputs = refinement_input(image, dropout(previous), clicks)[None]
        if before_step is not None:
            before_step()
        optimizer.zero_grad()
        logits = network(inputs)
        loss = loss_function(logits, labels)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        previous = torch.sigmoid(logits.detach())[0, 0]
    return {"steps": len(losses), "losses": losses, "clicks": clicks}


__all__ = ["MAX_INTERACTIONS", "MIN_INTERACTIONS", "dice_bce_loss", "refinement_iteration"]
