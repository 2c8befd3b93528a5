"""The universal click networks: the Gaussian-click 3D U-Net, alone or as a correction of the proposal.

- ``plain``: :func:`lib.gaussian_click.network.gaussian_click_net` (image + foreground + background
  guidance -> logit).
- ``proposal``: :class:`ProposalResidual`: the U-Net also sees the graph-cut proposal
  (:mod:`lib.universal_click.proposal`, channel 3) and its logit is ADDED to the proposal's
  own vote, ``scale * (2 * proposal - 1)``. With the U-Net's output convolution started at zero
  the model answers exactly the graph cut before any training, and training learns only where
  to overrule it (the zero-initialised output layer of ControlNet-style fine-tuning). So a
  model trained for minutes on a CPU starts from a class- and modality-agnostic answer instead
  of from nothing.

Input (B, 3 or 4, X, Y, Z), output (B, 1, X, Y, Z) logit; sizes divisible by 16.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lib.gaussian_click.network import gaussian_click_net, input_channels, read_state
from lib.universal_click.proposal import PROPOSAL_CHANNELS

#: The proposal's vote before training, logit units (sigmoid(3) = 0.95).
PROPOSAL_SCALE = 3.0


class ProposalResidual(torch.nn.Module):
    """``logit = unet(x) + scale * (2 * x[:, 3] - 1)``: the U-Net corrects the proposal (module doc).

    Args:
        unet: a 4-input-channel Gaussian-click U-Net.
        scale: the proposal's starting vote, logit units (learned).
    """

    def __init__(self, unet: torch.nn.Module, scale: float = PROPOSAL_SCALE) -> None:
        super().__init__()
        self.unet = unet
        self.scale = torch.nn.Parameter(torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x) + self.scale * (2.0 * x[:, 3:4] - 1.0)


def zero_output(unet: torch.nn.Module) -> None:
    """Set a ``BasicUNet``'s output convolution to zero (its answer becomes 0 everywhere)."""
    with torch.no_grad():
        unet.final_conv.weight.zero_()
        if unet.final_conv.bias is not None:
            unet.final_conv.bias.zero_()


def proposal_network() -> ProposalResidual:
    """A fresh proposal model: 4-channel U-Net, output at zero (answers the proposal as it is)."""
    unet = gaussian_click_net(3, in_channels=PROPOSAL_CHANNELS)
    zero_output(unet)
    return ProposalResidual(unet)


def is_proposal_state(state: dict) -> bool:
    """Whether a state dict is a :class:`ProposalResidual`'s."""
    return "scale" in state and any(k.startswith("unet.") for k in state)


def network_for_state(state: dict) -> torch.nn.Module:
    """An untrained network of the kind a state dict holds (plain U-Net or proposal model)."""
    if is_proposal_state(state):
        inner = {k[len("unet."):]: v for k, v in state.items() if k.startswith("unet.")}
        return ProposalResidual(gaussian_click_net(3, in_channels=input_channels(inner)))
    return gaussian_click_net(3, in_channels=input_channels(state))


def load_universal(weights: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The network of a universal ``weights.pt`` (either kind), in eval mode.

    Raises:
        ValueError: the file does not exist.
    """
    state = read_state(weights, device, "lib.universal_click.train")
    network = network_for_state(state)
    network.load_state_dict(state)
    return network.to(device).eval()


def takes_proposal(network: torch.nn.Module) -> bool:
    """Whether a network takes the graph-cut proposal as its fourth input channel."""
    inner = network.unet if isinstance(network, ProposalResidual) else network
    first = inner.conv_0.conv_0.conv if hasattr(inner, "conv_0") else None
    return first is not None and int(first.in_channels) == PROPOSAL_CHANNELS


__all__ = ["PROPOSAL_SCALE", "ProposalResidual", "is_proposal_state", "load_universal", "network_for_state",
           "proposal_network", "takes_proposal", "zero_output"]
