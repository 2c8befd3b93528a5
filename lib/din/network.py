"""DIN's anisotropic 3D U-Net with the deep interactive module (DIM).

Paper: ``papers/din_deep-interactive-networks-expdt.txt``, Table I and Fig. 4. The paper
writes kernels and strides in (z, y, x) order with z the thick-slice axis. Tensors here are
MONAI's (B, C, X, Y, Z), Z the slice axis, so every paper triple is REVERSED:
the paper's in-plane kernel (1, 3, 3) is ``(3, 3, 1)`` here, its stride (1, 2, 2) is
``(2, 2, 1)``; (3, 3, 3) and (2, 2, 2) read the same either way.

Layers (``conv`` = convolution, InstanceNorm, ReLU; widths w1..w5):

=====  ==========================================================  =================
block  layers (our X, Y, Z order)                                  resolution
=====  ==========================================================  =================
E1     input = image + 2 guides (DIM output 1); 2 x conv (3,3,1)   1
E2     conv (3,3,1) stride (2,2,1); conv (3,3,1)                   1/2 in plane
E3     conv (3,3,3) stride (2,2,1); conv (3,3,3)                   1/4 in plane
E4     conv (3,3,3) stride (2,2,1); conv (3,3,3)                   1/8 in plane
E5     conv (3,3,3) stride (2,2,2), IN, + DIM output 2, ReLU;      1/16 in plane,
       conv (3,3,3)                                                1/2 in Z
D4     transposed conv (2,2,2) s (2,2,2), concat E4, 2 x conv 333  1/8
D3     transposed conv (2,2,1) s (2,2,1), concat E3, 2 x conv 333  1/4
D2     transposed conv (2,2,1) s (2,2,1), concat E2, 2 x conv 331  1/2
D1     transposed conv (2,2,1) s (2,2,1), concat E1, 2 x conv 331  1
out    conv (1,1,1) -> 2 channels (background, foreground) logits
=====  ==========================================================  =================

DIM output 2: the two guide channels max-pooled by (8, 8, 1) (to E4's resolution) and
passed through ONE strided convolution, kernel (3, 3, 3), stride (2, 2, 2), to w5
channels, so it lands on E5's grid; it is ADDED to E5's first InstanceNorm output before
that block's ReLU (Fig. 4). ``deep_guides=False`` drops it (the paper's "DIM-input"
ablation: guides at the input only).

Widths, paper vs ours:

==========  ===========================  ==============================================
            paper                        ours (2-core CPU)
==========  ===========================  ==============================================
w1..w5      30, 60, 120, 240, 320        ``CPU_WIDTHS`` = 8, 16, 32, 64, 96
input size  10 x 512 x 160 (z, y, x)     training patches 48 x 48 x 16 (X, Y, Z) at
                                         3 x 3 x 6 mm; inference any size, padded to
                                         multiples of ``SIZE_DIVISOR`` = (16, 16, 2)
==========  ===========================  ==============================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

#: The paper's widths (Table I).
PAPER_WIDTHS: tuple[int, ...] = (30, 60, 120, 240, 320)
#: Our widths for a 2-core CPU.
CPU_WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 96)
#: Image channels + foreground guide + background guide.
IN_CHANNELS = 3
GUIDE_CHANNELS = 2
#: Spatial sizes (X, Y, Z) must be multiples of these: four in-plane and one Z downsampling.
SIZE_DIVISOR: tuple[int, int, int] = (16, 16, 2)
#: In-plane kernel / stride of the paper, (z, y, x) = (1, 3, 3) / (1, 2, 2), in our (X, Y, Z).
INPLANE_KERNEL: tuple[int, int, int] = (3, 3, 1)
INPLANE_STRIDE: tuple[int, int, int] = (2, 2, 1)
#: Max-pooling of the guides in DIM output 2, (X, Y, Z); the strided conv does the last (2, 2, 2).
DIM_POOL: tuple[int, int, int] = (8, 8, 1)


def _padding(kernel: Sequence[int]) -> tuple[int, ...]:
    return tuple(k // 2 for k in kernel)


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` that always takes oneDNN (mkldnn) on the CPU when no gradient is needed.

    For a batch of one and kernels up to 3, PyTorch 2.x picks its native (im2col) CPU kernel
    whenever batch x channels x the first two spatial sizes is at most 20480, whatever the
    third size: DIN's deeper layers at one click (e.g. 64 channels on 16 x 16 x 32) fall there
    and run about ten times slower than with oneDNN. Same weights, same result (to float
    rounding); training batches (> 1) and autograd keep PyTorch's own choice.
    """

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if (
            input.device.type == "cpu"
            and input.dtype == torch.float32
            and self.padding_mode == "zeros"
            and not torch.is_grad_enabled()
            and torch.backends.mkldnn.is_available()
        ):
            return torch.ops.aten.mkldnn_convolution(
                input.contiguous(), weight.contiguous(), bias, self.padding, self.stride, self.dilation, self.groups
            )
        return super()._conv_forward(input, weight, bias)


class ConvNormReLU(nn.Sequential):
    """Convolution, InstanceNorm (affine), ReLU: the paper's "conv"."""

    def __init__(self, in_ch: int, out_ch: int, kernel: Sequence[int], stride: Sequence[int] = (1, 1, 1)) -> None:
        super().__init__(
            Conv3d(in_ch, out_ch, tuple(kernel), tuple(stride), _padding(kernel), bias=False),
            nn.InstanceNorm3d(out_ch, affine=True),
            nn.ReLU(inplace=True),
        )


class DeepestBlock(nn.Module):
    """E5: strided conv, InstanceNorm, (+ DIM output 2), ReLU, then one more conv.

    Args:
        in_ch: channels from E4.
        out_ch: w5.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = Conv3d(in_ch, out_ch, 3, 2, 1, bias=False)
        self.norm = nn.InstanceNorm3d(out_ch, affine=True)
        self.relu = nn.ReLU(inplace=True)
        self.second = ConvNormReLU(out_ch, out_ch, (3, 3, 3))

    def forward(self, x: torch.Tensor, guide_features: torch.Tensor | None = None) -> torch.Tensor:
        y = self.norm(self.conv(x))
        if guide_features is not None:
            y = y + guide_features  # the DIM's feature modulation, before the ReLU
        return self.second(self.relu(y))


class UpBlock(nn.Module):
    """Transposed conv up, concatenation with the skip, two convs."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, scale: Sequence[int], kernel: Sequence[int]) -> None:
        super().__init__()
        self.up = nn.ConvTranspose3d(in_ch, out_ch, tuple(scale), tuple(scale))
        self.convs = nn.Sequential(ConvNormReLU(out_ch + skip_ch, out_ch, kernel), ConvNormReLU(out_ch, out_ch, kernel))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up(x), skip], dim=1))


class DeepInteractiveNetwork(nn.Module):
    """DIN: (B, 3, X, Y, Z) image + foreground guide + background guide -> (B, 2, X, Y, Z) logits.

    Args:
        widths: w1..w5 (five positive integers); default :data:`CPU_WIDTHS`.
        deep_guides: True adds DIM output 2 at E5 (the paper's full DIM); False is DIM-input.
        image_channels: image channels before the two guides (1: CT).

    Input channels are ``image_channels`` image channels, then the foreground guide, then the
    background guide (:mod:`lib.guidance` order). X and Y must be multiples of 16, Z of 2.
    Channel 1 of the output is the foreground logit of a softmax over two classes.

    Raises:
        ValueError: bad widths or image_channels.
    """

    def __init__(
        self, widths: Sequence[int] = CPU_WIDTHS, deep_guides: bool = True, image_channels: int = 1
    ) -> None:
        super().__init__()
        widths = tuple(widths)
        if len(widths) != 5 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be five positive integers, got {widths!r}")
        if isinstance(image_channels, bool) or not isinstance(image_channels, int) or image_channels < 1:
            raise ValueError(f"image_channels must be a positive integer, got {image_channels!r}")
        w1, w2, w3, w4, w5 = widths
        self.widths = widths
        self.deep_guides = bool(deep_guides)
        self.image_channels = image_channels
        k2d, s2d = INPLANE_KERNEL, INPLANE_STRIDE
        self.e1 = nn.Sequential(ConvNormReLU(image_channels + GUIDE_CHANNELS, w1, k2d), ConvNormReLU(w1, w1, k2d))
        self.e2 = nn.Sequential(ConvNormReLU(w1, w2, k2d, s2d), ConvNormReLU(w2, w2, k2d))
        self.e3 = nn.Sequential(ConvNormReLU(w2, w3, (3, 3, 3), s2d), ConvNormReLU(w3, w3, (3, 3, 3)))
        self.e4 = nn.Sequential(ConvNormReLU(w3, w4, (3, 3, 3), s2d), ConvNormReLU(w4, w4, (3, 3, 3)))
        self.e5 = DeepestBlock(w4, w5)
        if self.deep_guides:
            self.dim_pool = nn.MaxPool3d(DIM_POOL, DIM_POOL)
            self.dim_conv = Conv3d(GUIDE_CHANNELS, w5, 3, 2, 1)
        self.d4 = UpBlock(w5, w4, w4, (2, 2, 2), (3, 3, 3))
        self.d3 = UpBlock(w4, w3, w3, s2d, (3, 3, 3))
        self.d2 = UpBlock(w3, w2, w2, s2d, k2d)
        self.d1 = UpBlock(w2, w1, w1, s2d, k2d)
        self.head = Conv3d(w1, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C + 2, X, Y, Z) -> (B, 2, X, Y, Z) logits."""
        if x.ndim != 5 or x.shape[1] != self.image_channels + GUIDE_CHANNELS:
            raise ValueError(
                f"input must be (B, {self.image_channels + GUIDE_CHANNELS}, X, Y, Z), got {tuple(x.shape)}"
            )
        bad = [(n, d) for n, d in zip(x.shape[2:], SIZE_DIVISOR) if n % d]
        if bad:
            raise ValueError(f"spatial size {tuple(x.shape[2:])} must be multiples of {SIZE_DIVISOR} (X, Y, Z)")
        guides = x[:, self.image_channels :]
        f1 = self.e1(x)  # DIM output 1: the guides are part of the input
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        f4 = self.e4(f3)
        deep = self.dim_conv(self.dim_pool(guides)) if self.deep_guides else None
        f5 = self.e5(f4, deep)
        y = self.d4(f5, f4)
        y = self.d3(y, f3)
        y = self.d2(y, f2)
        y = self.d1(y, f1)
        return self.head(y)


def din_network(widths: Sequence[int] = CPU_WIDTHS, deep_guides: bool = True) -> DeepInteractiveNetwork:
    """The DIN network (see :class:`DeepInteractiveNetwork`)."""
    return DeepInteractiveNetwork(widths, deep_guides)


def load_network(weights: str | Path, device: str | torch.device = "cpu") -> DeepInteractiveNetwork:
    """The network of a ``weights.pt`` written by ``python -m lib.din.train``, in eval mode.

    The file holds ``{"model": state_dict, "widths": [...], "deep_guides": bool, "guide": ...}``;
    the architecture is rebuilt from those keys (defaults when absent).

    Raises:
        ValueError: the file does not exist.
    """
    if not os.path.exists(weights):
        raise ValueError(f"weights file '{weights}' does not exist; train one with python -m lib.din.train")
    checkpoint = torch.load(weights, map_location=device, weights_only=True)
    network = din_network(tuple(checkpoint.get("widths", CPU_WIDTHS)), bool(checkpoint.get("deep_guides", True)))
    network.load_state_dict(checkpoint.get("model", checkpoint))
    return network.to(device).eval()


def checkpoint_settings(weights: str | Path) -> dict:
    """The non-weight entries of a ``weights.pt`` (guide, sigma, gamma, widths, deep_guides)."""
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    return {k: v for k, v in checkpoint.items() if k != "model"}


__all__ = [
    "CPU_WIDTHS",
    "DIM_POOL",
    "PAPER_WIDTHS",
    "SIZE_DIVISOR",
    "DeepInteractiveNetwork",
    "checkpoint_settings",
    "din_network",
    "load_network",
]
