"""The paper's mid-level fusion module: phi_fusion(f, f') -> a feature map like f, for far slices.

Two input streams, one for the original features ``f`` and one for the updated ``f'``; each
a conv block whose first convolution has stride 2 x 2 x 2 and ``expansion`` times the
channels. Both are upsampled back (trilinear), concatenated, and go through a join block
and an output block whose first convolutions reduce the channels. Every block is three
(Conv3d 3x3x3 + InstanceNorm + ReLU) sub-blocks, as in the paper, except that the output
block's last convolution is plain (a feature map can be negative; a ReLU there could not
reproduce ``f``) and its result is added to an anchor: the module learns a correction, and an
untrained module (last convolution zero-initialised) gives the anchor back.

- ``anchor="updated"`` (default): the correction is added to ``f'``, so an untrained module
  answers far slices as the direct update does and training can only move away from that
  where the far-slice loss says so.
- ``anchor="original"``: added to ``f`` (the first shipped modules; an untrained one leaves far
  slices as the base network had them).

The paper expands 8x; we default to 2x for a CPU (``PAPER_EXPANSION`` gives the paper's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PAPER_EXPANSION = 8
CPU_EXPANSION = 2
ANCHORS = ("updated", "original")


def conv_block(in_channels: int, out_channels: int, first_stride: int = 1, plain_last: bool = False) -> nn.Sequential:
    """Three Conv3d(3x3x3) + InstanceNorm + ReLU; the first may stride; the last may be a plain conv."""
    layers: list[nn.Module] = []
    channels = in_channels
    for n in range(3):
        stride = first_stride if n == 0 else 1
        layers.append(nn.Conv3d(channels, out_channels, kernel_size=3, stride=stride, padding=1))
        if not (plain_last and n == 2):
            layers += [nn.InstanceNorm3d(out_channels, affine=True), nn.ReLU(inplace=True)]
        channels = out_channels
    return nn.Sequential(*layers)


class FusionModule(nn.Module):
    """phi_fusion: (f, f') -> fused features, each (B, C, X, Y, Z) with X, Y, Z even.

    Args:
        channels: C, the channels of the split network's feature map ``f``.
        expansion: stream width as a multiple of C (paper 8, default 2).
        anchor: what the learned correction is added to (module doc): ``"updated"`` or ``"original"``.
    """

    def __init__(self, channels: int, expansion: int = CPU_EXPANSION, anchor: str = "updated") -> None:
        super().__init__()
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
        wide = channels * expansion
        self.channels, self.expansion, self.anchor = channels, expansion, anchor
        self.original_stream = conv_block(channels, wide, first_stride=2)
        self.updated_stream = conv_block(channels, wide, first_stride=2)
        self.join = conv_block(2 * wide, wide)
        self.output = conv_block(wide, channels, plain_last=True)
        nn.init.zeros_(self.output[-1].weight)
        nn.init.zeros_(self.output[-1].bias)

    def forward(self, f: torch.Tensor, f_updated: torch.Tensor) -> torch.Tensor:
        size = f.shape[2:]
        a = F.interpolate(self.original_stream(f), size=size, mode="trilinear", align_corners=False)
        b = F.interpolate(self.updated_stream(f_updated), size=size, mode="trilinear", align_corners=False)
        base = f_updated if self.anchor == "updated" else f
        return base + self.output(self.join(torch.cat([a, b], dim=1)))


__all__ = ["ANCHORS", "CPU_EXPANSION", "PAPER_EXPANSION", "FusionModule", "conv_block"]
