"""The DeepEdit-style network: 2S-ICR's UNet shape with image + guidance channels in, 3 classes out.

(B, C + 2, X, Y, Z) -> (B, 3, X, Y, Z) logits (background, GTV, heart: the classes stage 1
learns, so both see the same labels); input channels: the image (CT [, PET]), the
positive-click map, the negative-click map (:mod:`lib.deepedit.guidance`; clicks are for the
GTV only). Widths
``CPU_CHANNELS`` (8..128), strides (1, 2, 2, 2), two residual units: the same network as
2S-ICR's stages, so the comparison is about the training scheme, not the architecture.
Sizes divisible by 8.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from monai.networks.nets import UNet

from lib.deepedit.guidance import GUIDANCE_CHANNELS
from lib.two_stage.network import CPU_CHANNELS, NUM_RES_UNITS, STRIDES

CLASSES = 3  # background, GTV, heart (as stage 1)


def deepedit_unet(image_channels: int = 2) -> torch.nn.Module:
    """The UNet for ``image_channels`` (1 CT, 2 CT + PET) + 2 guidance channels; ValueError otherwise."""
    if image_channels not in (1, 2):
        raise ValueError(f"image_channels must be 1 (CT) or 2 (CT + PET), got {image_channels!r}")
    return UNet(spatial_dims=3, in_channels=image_channels + GUIDANCE_CHANNELS, out_channels=CLASSES,
                channels=CPU_CHANNELS, strides=STRIDES, num_res_units=NUM_RES_UNITS)


def warm_start_from_automatic(network: torch.nn.Module, automatic: torch.nn.Module) -> list[str]:
    """Copy an automatic model's weights (same UNet; 1 image channel, 3 classes) into ``network``.

    On an axis where ``network`` has more channels (PET, guidance inputs) the new ones start at 0
    (where it has fewer, the first ones are kept). The start is then the automatic model
    itself, whatever the clicks: the same start as the PET-CT stage 1's
    (:mod:`lib.two_stage.train_stage1`).

    Returns:
        The names of the parameters that were adapted (not copied as they are).
    """
    source, state, adapted = automatic.state_dict(), network.state_dict(), []
    for name, value in state.items():
        old = source[name]
        if old.shape == value.shape:
            state[name] = old.clone()
            continue
        if old.ndim != value.ndim:
            raise ValueError(f"parameter {name!r}: {tuple(old.shape)} in the automatic model, {tuple(value.shape)} here")
        new = old.clone()
        for axis, size in enumerate(value.shape):
            if size < new.shape[axis]:
                new = new.narrow(axis, 0, size)
            elif size > new.shape[axis]:
                pad = list(new.shape)
                pad[axis] = size - new.shape[axis]
                new = torch.cat([new, torch.zeros(pad, dtype=new.dtype)], dim=axis)
        state[name] = new
        adapted.append(name)
    network.load_state_dict(state)
    return adapted


def load_deepedit(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The network of a weights file (``{"model": state_dict, "image_channels", ...}``), in eval mode.

    Raises:
        ValueError: the file does not exist or is not a weights file.
    """
    if not os.path.exists(path):
        raise ValueError(f"DeepEdit weights '{path}' do not exist; train them with python -m lib.deepedit.train")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ValueError(f"DeepEdit weights '{path}' are not a {{'model': state_dict}} file")
    network = deepedit_unet(int(checkpoint.get("image_channels", 2)))
    network.load_state_dict(checkpoint["model"])
    return network.to(device).eval()


__all__ = ["CLASSES", "deepedit_unet", "load_deepedit", "warm_start_from_automatic"]
