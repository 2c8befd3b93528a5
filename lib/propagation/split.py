"""Split a trained 3D segmentation network at a decoder level, without changing it.

Slice-edit propagation (``papers/slice-propagation_3d-fused-context-propagation.txt``)
optimises an intermediate feature map ``f`` of a frozen network. We split the network into

- ``front(image) -> SplitFeatures``: the encoder and the deeper decoder levels, giving ``f``,
  the input of the LAST ``level`` decoder blocks, plus the encoder's skip tensors those
  blocks still read (``context``, held fixed);
- ``back(f, context) -> logits``: the last ``level`` decoder blocks and the output layer.

``back(front(x)) == network(x)`` exactly (the same modules run in the same order); level 1
optimises the input of the last decoder block, level 2 of the last two (the paper's choice),
level 3 of the last three. Supported: MONAI ``UNet`` (the automatic model), ``DynUNet``
(without deep supervision) and ``SegResNet``.
Nothing is copied: the splitter calls the network's own submodules, so its weights stay
the served ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.layers.simplelayers import SkipConnection
from monai.networks.nets import DynUNet, SegResNet, UNet
from torch import nn

#: Decoder levels the splitter offers (the paper's ablation: 1, 2, 3).
LEVELS: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True, eq=False)
class SplitFeatures:
    """The front's output for one input.

    Attributes:
        f: (B, C_f, X_f, Y_f, Z_f) the feature map that is optimised (the input of the
            last ``level`` decoder blocks), at 1 / 2**(level - 1) of the input size for the
            UNet's stride (1, 2, 2, 2) and 1 / 2**level for SegResNet.
        context: skip tensors the back reads, fixed; deepest first.
    """

    f: torch.Tensor
    context: tuple[torch.Tensor, ...]

    @property
    def nbytes(self) -> int:
        """Memory held, bytes (for the session cache's bound)."""
        return sum(t.element_size() * t.nelement() for t in (self.f, *self.context))


class SplitNetwork:
    """A network cut in two at a decoder level; see the module doc.

    Args:
        network: a MONAI ``UNet`` or ``SegResNet``; used as is (put it in eval mode).
        level: how many decoder levels the back keeps, one of ``LEVELS``.

    Raises:
        ValueError: an unsupported network or level (named).
    """

    def __init__(self, network: nn.Module, level: int = 2) -> None:
        if level not in LEVELS:
            raise ValueError(f"decoder level must be one of {LEVELS}, got {level!r}")
        self.network, self.level = network, level
        if isinstance(network, UNet):
            self._front, self._back = self._unet_front, self._unet_back
            self._downs, self._ups, self._bottom = _unet_levels(network)
            if level >= len(self._ups):
                raise ValueError(f"this UNet has {len(self._ups)} decoder levels; level {level} leaves no front")
        elif isinstance(network, DynUNet):
            if network.deep_supervision:
                raise ValueError("DynUNet with deep supervision is not supported")
            if level > len(network.upsamples):
                raise ValueError(f"this DynUNet has {len(network.upsamples)} decoder levels, not {level}")
            self._front, self._back = self._dynunet_front, self._dynunet_back
        elif isinstance(network, SegResNet):
            if not network.use_conv_final:
                raise ValueError("SegResNet without its final convolution is not supported")
            if level > len(network.up_layers):
                raise ValueError(f"this SegResNet has {len(network.up_layers)} decoder levels, not {level}")
            self._front, self._back = self._segresnet_front, self._segresnet_back
        else:
            raise ValueError(f"cannot split a {type(network).__name__}; supported: MONAI UNet, DynUNet, SegResNet")

    def front(self, image: torch.Tensor) -> SplitFeatures:
        """(B, C_in, X, Y, Z) image -> features (no gradients kept)."""
        with torch.no_grad():
            return self._front(image)

    def back(self, f: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Feature map ``f`` (optimised or fused) and the fixed context -> (B, classes, X, Y, Z) logits."""
        return self._back(f, context)

    # MONAI UNet: Sequential(down_0, SkipConnection(Sequential(down_1, ...)), up_0); a skip
    # connection concatenates its input (the level's encoder output) with the inner result.
    def _unet_front(self, image: torch.Tensor) -> SplitFeatures:
        skips, x = [], image
        for down in self._downs:
            x = down(x)
            skips.append(x)
        x = self._bottom(x)
        first_kept = self.level - 1  # index of the shallowest up block the front runs past
        for i in range(len(self._ups) - 1, first_kept, -1):
            x = self._ups[i](torch.cat([skips[i], x], dim=1))
        f = torch.cat([skips[first_kept], x], dim=1)
        return SplitFeatures(f, tuple(skips[i] for i in range(first_kept - 1, -1, -1)))

    def _unet_back(self, f: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = self._ups[self.level - 1](f)
        for skip, i in zip(context, range(self.level - 2, -1, -1)):
            x = self._ups[i](torch.cat([skip, x], dim=1))
        return x

    # MONAI DynUNet: encoder [input_block, *downsamples] then bottleneck; decoder blocks
    # upsamples[i](x, skip) deepest first; then output_block.
    def _dynunet_front(self, image: torch.Tensor) -> SplitFeatures:
        net: DynUNet = self.network  # type: ignore[assignment]
        skips, x = [], image
        for down in [net.input_block, *net.downsamples]:
            x = down(x)
            skips.append(x)
        x = net.bottleneck(x)
        ups = net.upsamples  # deepest first; upsamples[j] reads skips[-1 - j]
        first_kept = len(ups) - self.level
        for j in range(first_kept):
            x = ups[j](x, skips[-1 - j])
        return SplitFeatures(x, tuple(skips[-1 - j] for j in range(first_kept, len(ups))))

    def _dynunet_back(self, f: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        net: DynUNet = self.network  # type: ignore[assignment]
        first_kept = len(net.upsamples) - self.level
        x = f
        for skip, j in zip(context, range(first_kept, len(net.upsamples))):
            x = net.upsamples[j](x, skip)
        return net.output_block(x)

    # MONAI SegResNet: encode -> down_x (shallowest first); decode: x = up(x) + skip; x = up_layer(x).
    def _segresnet_front(self, image: torch.Tensor) -> SplitFeatures:
        net: SegResNet = self.network  # type: ignore[assignment]
        x, down_x = net.encode(image)
        down_x.reverse()  # deepest first, as SegResNet.decode reads them
        first_kept = len(net.up_layers) - self.level
        for i in range(first_kept):
            x = net.up_layers[i](net.up_samples[i](x) + down_x[i + 1])
        return SplitFeatures(x, tuple(down_x[first_kept + 1 :]))

    def _segresnet_back(self, f: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        net: SegResNet = self.network  # type: ignore[assignment]
        first_kept = len(net.up_layers) - self.level
        x = f
        for skip, i in zip(context, range(first_kept, len(net.up_layers))):
            x = net.up_layers[i](net.up_samples[i](x) + skip)
        return net.conv_final(x)


def _unet_levels(network: UNet) -> tuple[list[nn.Module], list[nn.Module], nn.Module]:
    """(encoder blocks top-down, decoder blocks top-down, bottom block) of a MONAI UNet."""
    downs: list[nn.Module] = []
    ups: list[nn.Module] = []
    block: nn.Module = network.model
    while isinstance(block, nn.Sequential) and len(block) == 3 and isinstance(block[1], SkipConnection):
        if block[1].mode != "cat" or block[1].dim != 1:
            raise ValueError("only UNets whose skip connections concatenate channels are supported")
        downs.append(block[0])
        ups.append(block[2])
        block = block[1].submodule
    if not downs:
        raise ValueError("not a MONAI UNet built of skip-connection levels")
    return downs, ups, block


__all__ = ["LEVELS", "SplitFeatures", "SplitNetwork"]
