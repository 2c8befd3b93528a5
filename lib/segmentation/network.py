"""The automatic model's networks: a 3D MONAI UNet shaped like 2S-ICR's first stage, and
DynUNet (MONAI's nnU-Net; the slice-propagation paper's base for one dataset) and SegResNet
trained on the same data: the other architectures slice-edit propagation plugs into."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets import DynUNet, SegResNet, UNet

#: 2S-ICR's stage-1 widths are (16, 32, 64, 128, 256) with 4.8 M parameters and a
#: 1.7 s training step on a 112x96x40 volume on this 2-core CPU. We halve every width
#: (1.2 M parameters, 4.8 MB of weights, 0.45 s per 80x80x32 step) and keep the rest:
#: strides (1, 2, 2, 2) - the first stride of 1 the paper found pivotal - and two
#: residual units per level.
CPU_CHANNELS: tuple[int, ...] = (8, 16, 32, 64, 128)
PAPER_CHANNELS: tuple[int, ...] = (16, 32, 64, 128, 256)
STRIDES: tuple[int, ...] = (1, 2, 2, 2)


def segmentation_unet(
    in_channels: int = 1,
    out_channels: int = 3,
    channels: Sequence[int] = CPU_CHANNELS,
    dropout: float = 0.0,
) -> torch.nn.Module:
    """A 3D UNet taking (B, in_channels, X, Y, Z) and giving (B, out_channels, X, Y, Z) logits.

    Spatial sizes must be divisible by 8 (three stride-2 levels).

    Args:
        in_channels: image channels (1: CT; 2: CT + PET).
        out_channels: classes including background (3: background, GTV, heart).
        channels: widths per level; ``CPU_CHANNELS`` (default) or ``PAPER_CHANNELS``.
        dropout: dropout probability (used by MC-dropout uncertainty; 0 to train plainly).
    """
    return UNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=tuple(channels),
        strides=STRIDES,
        num_res_units=2,
        dropout=dropout,
    )


#: SegResNet scaled for the CPU: 8 filters at the first level (doubling per level), the
#: paper defaults' block counts; InstanceNorm like the UNet, for the same windowed inference.
SEGRESNET_INIT_FILTERS = 8
ARCHITECTURES: tuple[str, ...] = ("unet", "dynunet", "segresnet")
#: DynUNet levels mirroring the UNet: full-resolution first level, three stride-2 levels, a
#: stride-1 bottleneck; the same widths.
DYNUNET_STRIDES: tuple[int, ...] = (1, 2, 2, 2, 1)


def segmentation_segresnet(in_channels: int = 1, out_channels: int = 3) -> torch.nn.Module:
    """A 3D SegResNet taking (B, in_channels, X, Y, Z), giving (B, out_channels, X, Y, Z) logits.

    Spatial sizes must be divisible by 8 (three downsamplings).
    """
    return SegResNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        init_filters=SEGRESNET_INIT_FILTERS,
        blocks_down=(1, 2, 2, 4),
        blocks_up=(1, 1, 1),
        norm="instance",
    )


def segmentation_dynunet(in_channels: int = 1, out_channels: int = 3) -> torch.nn.Module:
    """A 3D DynUNet (nnU-Net style: two conv + InstanceNorm + LeakyReLU per level, strided conv
    down, transposed conv up), widths ``CPU_CHANNELS``; sizes divisible by 8."""
    return DynUNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=[3] * len(DYNUNET_STRIDES),
        strides=list(DYNUNET_STRIDES),
        upsample_kernel_size=list(DYNUNET_STRIDES[1:]),
        filters=list(CPU_CHANNELS),
        norm_name="instance",
    )


def segmentation_network(arch: str = "unet", in_channels: int = 1, out_channels: int = 3) -> torch.nn.Module:
    """The automatic model's network of architecture ``arch`` (one of ``ARCHITECTURES``)."""
    if arch == "unet":
        return segmentation_unet(in_channels, out_channels)
    if arch == "dynunet":
        return segmentation_dynunet(in_channels, out_channels)
    if arch == "segresnet":
        return segmentation_segresnet(in_channels, out_channels)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
