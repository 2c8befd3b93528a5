"""Intensity policies: how an image's values become the network's, chosen per input.

- ``"ct"``: Hounsfield units windowed to ``CT_WINDOW_HU`` and scaled to [-1, 1] (clipped),
  what every CT model of the project has always done; air is -1.
- ``"percentile"``: any other input (MRI, PET, an inverted or unknown contrast). Robust,
  per image: the non-background voxels are those above the image's ``BACKGROUND_PERCENTILE``
  percentile plus 1 % of its robust range (a zero or constant background is left out; an
  image without one keeps nearly all voxels); their ``LOW_PERCENTILE`` and
  ``HIGH_PERCENTILE`` percentiles map to -1 and 1, clipped to ``PERCENTILE_CLIP``.

:func:`choose_policy` picks one from the image (``"auto"``: values that look like HU, i.e.
air or lung at about -1000, give ``"ct"``) or takes the request's choice.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Policy = Literal["ct", "percentile"]
POLICIES: tuple[str, ...] = ("ct", "percentile")
CHOICES: tuple[str, ...] = ("auto", *POLICIES)
CT_WINDOW_HU: tuple[float, float] = (-200.0, 200.0)
BACKGROUND_PERCENTILE = 1.0
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
PERCENTILE_CLIP: tuple[float, float] = (-1.5, 1.5)
#: The 0.1st percentile of a CT (air, lung) lies in this range of HU.
CT_AIR_HU: tuple[float, float] = (-1200.0, -700.0)
#: Most voxels a percentile estimate looks at (a strided subsample beyond this).
_SAMPLE = 2_000_000

DESCRIPTIONS: dict[str, str] = {
    "ct": f"CT: HU windowed to [{CT_WINDOW_HU[0]:g}, {CT_WINDOW_HU[1]:g}] -> [-1, 1], clipped",
    "percentile": (
        f"per image: the non-background voxels (above the {BACKGROUND_PERCENTILE:g}th percentile + 1 % of the "
        f"robust range) give percentiles {LOW_PERCENTILE:g} -> -1 and {HIGH_PERCENTILE:g} -> 1, clipped to "
        f"[{PERCENTILE_CLIP[0]:g}, {PERCENTILE_CLIP[1]:g}]"
    ),
}


def _sample(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float32).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size > _SAMPLE:
        flat = flat[:: flat.size // _SAMPLE + 1]
    return flat


def looks_like_ct(image: np.ndarray) -> bool:
    """Whether an (X, Y, Z) image's values are Hounsfield units with air or lung in it."""
    flat = _sample(image)
    if flat.size == 0:
        return False
    low = float(np.percentile(flat, 0.1))
    return CT_AIR_HU[0] <= low <= CT_AIR_HU[1]


def choose_policy(image: np.ndarray, requested: str = "auto") -> Policy:
    """The policy for ``image`` (X, Y, Z): the request's, or from the values when ``"auto"``.

    Raises:
        ValueError: an unknown request (named, with the choices).
    """
    if requested not in CHOICES:
        raise ValueError(f"intensity policy must be one of {CHOICES}, got {requested!r}")
    if requested != "auto":
        return requested  # type: ignore[return-value]
    return "ct" if looks_like_ct(image) else "percentile"


def percentile_range(image: np.ndarray) -> tuple[float, float]:
    """(value -> -1, value -> 1) of the ``"percentile"`` policy for an image of any shape."""
    flat = _sample(image)
    if flat.size == 0:
        return 0.0, 1.0
    floor, top = np.percentile(flat, [BACKGROUND_PERCENTILE, 99.9])
    foreground = flat[flat > floor + 0.01 * (top - floor)]
    if foreground.size < 0.05 * flat.size:  # nearly constant: keep everything
        foreground = flat
    low, high = np.percentile(foreground, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if not high > low:
        high = low + 1.0
    return float(low), float(high)


def normalise(image: np.ndarray | torch.Tensor, policy: Policy,
              value_range: tuple[float, float] | None = None) -> np.ndarray:
    """``image`` (any shape) in model units under ``policy``.

    Args:
        image: raw values (HU for ``"ct"``).
        policy: ``"ct"`` or ``"percentile"``.
        value_range: ``"percentile"`` only: the (low, high) to use (e.g. of the whole image when
            ``image`` is a crop of it); None computes it from ``image``.

    Returns:
        float32 array of ``image``'s shape.
    """
    values = np.asarray(image, dtype=np.float32)
    if policy == "ct":
        low, high = CT_WINDOW_HU
        return np.clip((values - low) / (high - low) * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)
    if policy != "percentile":
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    low, high = value_range if value_range is not None else percentile_range(values)
    scaled = (values - low) / (high - low) * 2.0 - 1.0
    return np.clip(scaled, *PERCENTILE_CLIP).astype(np.float32)


__all__ = ["CHOICES", "CT_WINDOW_HU", "DESCRIPTIONS", "POLICIES", "Policy", "choose_policy", "looks_like_ct",
           "normalise", "percentile_range"]
