"""2S-ICR's two networks: stage 1 (f_DL, the automatic model) and stage 2 (f_IDL, the refinement net).

Both are MONAI ``UNet`` as in the paper (section 4.2: "channels [16, 32, 64, 128, 256],
stride [1, 2, 2, 2], two residual units"; the only difference between models is the number
of input channels). The first stride of 1 keeps a full-resolution level, which the paper
found "pivotal" for the effect of a click.

==================  =================================  =====================================
                    paper                              ours (2-core CPU)
==================  =================================  =====================================
widths              (16, 32, 64, 128, 256), 4.8 M      ``CPU_CHANNELS`` = (8, 16, 32, 64, 128),
                    parameters                         1.2 M (every width halved, as the
                                                       shipped stage 1)
strides, res units  (1, 2, 2, 2), 2                    same
refinement input    PET, CT, previous probability,     image channel(s) (CT, or CT + PET),
                    positive and negative click maps   previous probability, positive and
                                                       negative click maps
output              sigmoid probability                1 logit channel (sigmoid)
==================  =================================  =====================================

Stage 1 is any automatic model of :mod:`lib.segmentation.network` (3 classes: background,
GTV, heart); its GTV probability is taken by :func:`lib.two_stage.engine.gtv_probability`.
Weights files hold ``{"model": state_dict, ...}`` plus what is needed to rebuild the network
(``arch`` and ``in_channels`` for stage 1; ``image_channels`` and ``channels`` for stage 2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from monai.networks.nets import UNet

from lib.segmentation.network import segmentation_network

PAPER_CHANNELS: tuple[int, ...] = (16, 32, 64, 128, 256)
CPU_CHANNELS: tuple[int, ...] = (8, 16, 32, 64, 128)
STRIDES: tuple[int, ...] = (1, 2, 2, 2)
NUM_RES_UNITS = 2
#: Previous probability + positive click map + negative click map.
GUIDANCE_CHANNELS = 3
#: Spatial sizes must be multiples of this (three stride-2 levels).
SIZE_DIVISOR = 8


def refinement_unet(image_channels: int = 1, channels: Sequence[int] = CPU_CHANNELS) -> torch.nn.Module:
    """f_IDL: (B, image_channels + 3, X, Y, Z) -> (B, 1, X, Y, Z) logits; sizes divisible by 8.

    Input channel order: the image channel(s) (CT [, PET]), the previous probability, the
    positive click map, the negative click map.

    Args:
        image_channels: 1 (CT) or 2 (CT + PET).
        channels: five widths; ``CPU_CHANNELS`` (default) or ``PAPER_CHANNELS``.

    Raises:
        ValueError: a bad number of image channels or widths.
    """
    if image_channels not in (1, 2):
        raise ValueError(f"image_channels must be 1 (CT) or 2 (CT + PET), got {image_channels!r}")
    widths = tuple(int(c) for c in channels)
    if len(widths) != len(STRIDES) + 1 or min(widths) < 1:
        raise ValueError(f"channels must be {len(STRIDES) + 1} positive widths, got {tuple(channels)!r}")
    return UNet(
        spatial_dims=3,
        in_channels=image_channels + GUIDANCE_CHANNELS,
        out_channels=1,
        channels=widths,
        strides=STRIDES,
        num_res_units=NUM_RES_UNITS,
    )


class ResidualRefinement(torch.nn.Module):
    """f_IDL with a residual output: logit = logit(previous probability) + UNet(input).

    The UNet (:func:`refinement_unet`, unchanged) then learns the CORRECTION of the previous
    answer rather than the whole answer, so an untrained net already returns the previous
    answer and a short (CPU) training only has to learn what the clicks change. A dropped
    mask (0.5) has logit 0: the net then answers from the image and clicks alone, as the
    paper's mask dropout intends. Not in the paper (its net outputs the answer directly);
    measured against it on the same budget (``models/two_stage_ct_scratch``).

    Args:
        unet: the refinement UNet.
        image_channels: its image channels (the previous probability is the next channel).
        eps: probabilities are clipped to [eps, 1 - eps] before the logit.
        zero_init: set the UNet's last two convolutions to 0, so the correction starts at 0
            (a new net; loading weights overwrites them anyway).
    """

    def __init__(self, unet: torch.nn.Module, image_channels: int = 1, eps: float = 1e-4, zero_init: bool = True):
        super().__init__()
        if zero_init:
            convolutions = [m for m in unet.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d))]
            with torch.no_grad():
                for layer in convolutions[-2:]:
                    layer.weight.zero_()
                    if layer.bias is not None:
                        layer.bias.zero_()
        self.unet = unet
        self.image_channels = int(image_channels)
        self.in_channels = self.image_channels + GUIDANCE_CHANNELS
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        previous = x[:, self.image_channels:self.image_channels + 1].clamp(self.eps, 1.0 - self.eps)
        return torch.logit(previous) + self.unet(x)


def warm_start_from_stage1(refinement: torch.nn.Module, stage1: torch.nn.Module, target: int = 1) -> list[str]:
    """Copy an automatic model's weights into a refinement net of the same shape (a warm start).

    Both are the paper's UNet and differ only in their input and output channels: stage 1
    takes the image and gives 3 class logits; the refinement net takes the image, the previous
    probability and two click maps and gives 1 logit. Weights of equal shape are copied; on an
    input-channel axis the image channels are copied and the 3 new ones start at 0 (the net
    starts by ignoring previous mask and clicks, and learns to use them); on an
    output-class axis the refinement logit starts as stage 1's ``target`` logit minus its
    background logit, and a layer from classes to classes (the last residual unit's convolution)
    starts at 0, leaving its identity path. The refinement net so starts with stage 1's
    features; its output is NOT stage 1's (that last unit mixed the 3 classes, and the
    difference of the transposed convolution's outputs alone over-segments), so the first
    steps fit the output layers. It is then trained on its own
    (stage 1 stays frozen): a CPU-budget measure, the paper trains stage 2 from scratch.

    Returns:
        The names of the parameters that were adapted (not copied as they are).

    Raises:
        ValueError: the two networks differ other than in those channel axes.
    """
    source = stage1.state_dict()
    state = refinement.state_dict()
    adapted = []
    for name, value in state.items():
        if name not in source:
            raise ValueError(f"the stage-1 network has no parameter {name!r}: not the same UNet shape")
        old = source[name]
        if old.shape == value.shape:
            state[name] = old.clone()
            continue
        if old.ndim != value.ndim:
            raise ValueError(f"parameter {name!r} has shape {tuple(old.shape)} in stage 1, {tuple(value.shape)} here")
        shrinking = [axis for axis, (a, b) in enumerate(zip(old.shape, value.shape)) if b < a]
        if len(shrinking) > 1:  # a class-to-class layer (the last residual unit): start as its identity path
            state[name] = torch.zeros_like(value)
            adapted.append(name)
            continue
        new = old.clone()
        for axis, (a, b) in enumerate(zip(old.shape, value.shape)):
            if a == b:
                continue
            if b > a:  # more inputs: image channels copied, the guidance channels start at 0
                pad = list(new.shape)
                pad[axis] = b - a
                new = torch.cat([new, torch.zeros(pad, dtype=new.dtype)], dim=axis)
            elif b == 1 and a > target:  # one output: target minus background
                new = new.narrow(axis, target, 1) - new.narrow(axis, 0, 1)
            else:
                raise ValueError(f"cannot adapt {name!r} from {tuple(old.shape)} to {tuple(value.shape)}")
        state[name] = new
        adapted.append(name)
    refinement.load_state_dict(state)
    return adapted


def _checkpoint(path: str | Path, what: str, hint: str) -> dict:
    if not os.path.exists(path):
        raise ValueError(f"{what} weights '{path}' do not exist; {hint}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ValueError(f"{what} weights '{path}' are not a {{'model': state_dict}} file")
    return checkpoint


def load_refinement(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The refinement net of a weights file (widths, channels and ``residual`` read from it), in eval mode.

    Raises:
        ValueError: the file does not exist or is not a weights file.
    """
    checkpoint = _checkpoint(path, "refinement", "train it with python -m lib.two_stage.train")
    channels = int(checkpoint.get("image_channels", 1))
    network = refinement_unet(channels, checkpoint.get("channels", CPU_CHANNELS))
    if checkpoint.get("residual", False):
        network = ResidualRefinement(network, channels)
    network.load_state_dict(checkpoint["model"])
    return network.to(device).eval()


def load_stage1(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """An automatic model (stage 1) of a weights file, in eval mode.

    ``arch`` (default ``"unet"``) and ``in_channels`` (default 1) are read from the file.
    The network's ``in_channels`` attribute is set, so callers know which channels it takes.

    Raises:
        ValueError: the file does not exist or is not a weights file.
    """
    checkpoint = _checkpoint(path, "stage-1", "train it with python -m lib.segmentation.train "
                             "(or python -m lib.two_stage.train_stage1 for PET-CT)")
    in_channels = int(checkpoint.get("in_channels", 1))
    network = segmentation_network(checkpoint.get("arch", "unet"), in_channels=in_channels)
    network.load_state_dict(checkpoint["model"])
    network.in_channels = in_channels  # type: ignore[attr-defined]
    return network.to(device).eval()


__all__ = [
    "ResidualRefinement",
    "CPU_CHANNELS",
    "GUIDANCE_CHANNELS",
    "NUM_RES_UNITS",
    "PAPER_CHANNELS",
    "SIZE_DIVISOR",
    "STRIDES",
    "load_refinement",
    "load_stage1",
    "refinement_unet",
    "warm_start_from_stage1",
]
