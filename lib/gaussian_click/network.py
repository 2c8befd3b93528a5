"""The Gaussian-click paper's encoder-decoder, as MONAI's ``BasicUNet``.

Paper (Sakinis et al., Fig. 2 and section III-A): a down path of four blocks with 2x2
max-pooling (stride 2), a bottleneck block, an up path of four blocks with 2x2 transposed
convolutions (stride 2) and skip connections; every block is two (conv 3x3, BN, ReLU).
MONAI 1.4's ``BasicUNet`` is exactly that: ``conv_0`` + ``down_1..3`` (each a 2x2 max-pool
then ``TwoConv``) are the four down blocks, ``down_4`` (pool + ``TwoConv``) the bottleneck,
``upcat_4..1`` the four up blocks (``UpSample(mode="deconv")``: a transposed conv with kernel
2 and stride 2, concatenation, ``TwoConv``), and a final 1x1 conv. ``TwoConv`` is two MONAI
``Convolution`` blocks (conv, then norm, dropout, activation); we ask for batch norm and
ReLU (MONAI's defaults are instance norm and LeakyReLU).

Widths, paper vs ours (``features``: the five levels, then the last up block):

============  ================================  ===========================================
              paper                             ours (2-core CPU)
============  ================================  ===========================================
2D            not stated in the text; its        ``CPU_FEATURES_2D`` = (16, 32, 64, 128, 256,
              U-Net model [10] uses (64, 128,    16): 1.9 M parameters, a 128 x 128 slice in
              256, 512, 1024, 64)                tens of ms
3D            (no 3D model in the paper;        ``CPU_FEATURES_3D`` = (8, 16, 32, 64, 128, 8)
              DeepGrow-3D-like variant)          on a 64 x 64 x 32 region
============  ================================  ===========================================

Input: (B, 3, *S): model-space image, foreground and background Gaussian guidance; output
(B, 1, *S) logit. Each spatial size must be divisible by 16 (four poolings).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from monai.networks.nets import BasicUNet

#: U-Net [10] widths (the paper's figure follows it; its text states no widths).
PAPER_FEATURES: tuple[int, ...] = (64, 128, 256, 512, 1024, 64)
CPU_FEATURES_2D: tuple[int, ...] = (16, 32, 64, 128, 256, 16)
CPU_FEATURES_3D: tuple[int, ...] = (8, 16, 32, 64, 128, 8)
#: Image + foreground guidance + background guidance.
IN_CHANNELS = 3
#: Spatial sizes must be multiples of this (four 2x2 poolings).
SIZE_DIVISOR = 16


def default_features(dims: int) -> tuple[int, ...]:
    """The CPU widths for a 2D or 3D model.

    Raises:
        ValueError: ``dims`` is not 2 or 3.
    """
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    return CPU_FEATURES_2D if dims == 2 else CPU_FEATURES_3D


def gaussian_click_net(dims: int = 2, features: Sequence[int] | None = None,
                       in_channels: int = IN_CHANNELS) -> torch.nn.Module:
    """The paper's network for 2D slices (``dims=2``) or 3D regions (``dims=3``).

    Args:
        dims: spatial dimensions, 2 or 3.
        features: six widths (five levels, then the last up block); default
            :func:`default_features`.
        in_channels: 3 (the paper's), or more when extra channels follow the guidance (the
            universal model's graph-cut proposal).

    Returns:
        A module mapping (B, in_channels, *S) to (B, 1, *S) logits, S divisible by 16.

    Raises:
        ValueError: a bad ``dims`` or ``features``.
    """
    widths = tuple(default_features(dims) if features is None else features)
    if len(widths) != 6 or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"features must be six positive integers, got {features!r}")
    with contextlib.redirect_stdout(io.StringIO()):  # BasicUNet prints its widths
        return BasicUNet(
            spatial_dims=dims,
            in_channels=int(in_channels),
            out_channels=1,
            features=widths,
            act=("relu", {"inplace": True}),
            norm=("batch", {"affine": True}),
            upsample="deconv",
        )


def read_state(weights: str | Path, device: str | torch.device, trainer: str) -> dict:
    """The state dict of a ``{"model": state_dict}`` (or bare state dict) weights file.

    Raises:
        ValueError: the file does not exist (the message names the ``trainer`` module that makes one).
    """
    if not os.path.exists(weights):
        raise ValueError(f"weights file '{weights}' does not exist; train one with python -m {trainer}")
    checkpoint = torch.load(weights, map_location=device, weights_only=True)
    return checkpoint.get("model", checkpoint)


def load_network(weights: str | Path, dims: int, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The network with the weights of a ``{"model": state_dict}`` file, in eval mode.

    Raises:
        ValueError: the file does not exist.
    """
    state = read_state(weights, device, "lib.gaussian_click.train")
    network = gaussian_click_net(dims, in_channels=input_channels(state))
    network.load_state_dict(state)
    return network.to(device).eval()


#: The first convolution's weight in a ``BasicUNet`` state dict: (out, in, *kernel).
FIRST_CONV = "conv_0.conv_0.conv.weight"


def input_channels(state: dict) -> int:
    """How many input channels a state dict's network takes (3 when it is not a ``BasicUNet``'s)."""
    weight = state.get(FIRST_CONV)
    return IN_CHANNELS if weight is None else int(weight.shape[1])
