"""DIN's guide maps: foreground and background clicks as two channels, by ExpDT, EDT or GDT.

The maths lives in :mod:`lib.guidance`; this file only chooses the encoding and its
settings (:class:`GuideSettings`) and states the axis order once more, because it is where
the paper's numbers enter:

- The paper writes sigma as (z, y, x) = (1, 5, 5) voxels, z the thick-slice axis. Model
  space here is (X, Y, Z) with Z the slice axis (RAS, 3 x 3 x 6 mm), so the default is
  ``sigma = (5, 5, 1)``: 5 voxels along X and Y, **1 voxel along Z**
  (:data:`lib.guidance.DIN_SIGMA_VOXELS`). The paper's best (1.5, 6, 6) is (6, 6, 1.5) here.
- ``"exp"``: ExpDT, ``gamma * exp(-sum_d (x_d - c_d)^2 / (2 sigma_d^2))``, max over clicks;
  local, independent of the image size. Values in [0, gamma].
- ``"edt"``: Euclidean distance to the nearest click in voxels, divided by
  :data:`DISTANCE_SCALE` (a fixed constant, so the map still grows with the image size as
  the paper's "global" transforms do; with no click every voxel holds the image diagonal).
- ``"gdt"``: geodesic distance over the model-space image (intensities in [-1, 1], edge
  weight :data:`GDT_EDGE_WEIGHT`), scaled like the EDT.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lib.guidance import (
    DIN_SIGMA_VOXELS,
    EuclideanDistanceGuide,
    ExpDistanceGuide,
    GeodesicDistanceGuide,
)
from lib.guidance.base import ClickGuide
from lib.interaction.clicks import Click

GUIDE_KINDS = ("exp", "edt", "gdt")
#: EDT / GDT values are divided by this many voxels (the training patch is 48 voxels wide).
DISTANCE_SCALE = 64.0
#: GDT path cost per unit of model-space intensity (range 2 for [-1, 1]; lib.guidance suggests
#: about 10 for a range of 1).
GDT_EDGE_WEIGHT = 5.0
#: Largest ExpDT sigma a request may set, in model voxels: beyond the network's patch scale the
#: guide is flat over the whole window and tells the network nothing about where the click is.
MAX_SIGMA_VOXELS = DISTANCE_SCALE
#: Largest ExpDT value at a click a request may set (the shipped models are trained with 1).
MAX_GAMMA = 10.0


def _positive_triple(value: float | Sequence[float], name: str) -> tuple[float, float, float]:
    try:
        values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number or three (X, Y, Z), got {value!r}") from None
    if isinstance(value, bool) or len(values) != 3 or not all(np.isfinite(values)) or min(values) <= 0:
        raise ValueError(f"{name} must be a positive number or three positive numbers (X, Y, Z), got {value!r}")
    if max(values) > MAX_SIGMA_VOXELS:
        raise ValueError(f"{name} must be at most {MAX_SIGMA_VOXELS:g} model voxels per axis (X, Y, Z), got {value!r}")
    return values[0], values[1], values[2]


@dataclass(frozen=True)
class GuideSettings:
    """How clicks become guide maps.

    Attributes:
        kind: ``"exp"`` (DIN), ``"edt"`` or ``"gdt"`` (ablations).
        sigma: ExpDT sigma in model voxels, (X, Y, Z) order: (5, 5, 1) is the paper's
            (z, y, x) = (1, 5, 5). Ignored by EDT / GDT.
        gamma: ExpDT value at a click. Ignored by EDT / GDT.

    Raises:
        ValueError: an unknown kind, or a bad sigma / gamma (named).
    """

    kind: str = "exp"
    sigma: tuple[float, float, float] = field(default=DIN_SIGMA_VOXELS)
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in GUIDE_KINDS:
            raise ValueError(f"guide must be one of {GUIDE_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "sigma", _positive_triple(self.sigma, "sigma"))
        gamma = self.gamma
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not np.isfinite(gamma) or gamma <= 0:
            raise ValueError(f"gamma must be a positive number, got {gamma!r}")
        if gamma > MAX_GAMMA:
            raise ValueError(f"gamma must be at most {MAX_GAMMA:g}, got {gamma!r}")
        object.__setattr__(self, "gamma", float(gamma))

    def with_request(self, sigma: object = None, gamma: object = None) -> GuideSettings:
        """These settings with a request's ``sigma`` / ``gamma`` (None keeps the trained value).

        Raises:
            ValueError: a bad value, named; or sigma/gamma given for a non-ExpDT model.
        """
        if sigma is None and gamma is None:
            return self
        if self.kind != "exp":
            raise ValueError(f"sigma and gamma only apply to the ExpDT guide; this model uses {self.kind!r}")
        return GuideSettings(self.kind, self.sigma if sigma is None else sigma, self.gamma if gamma is None else gamma)  # type: ignore[arg-type]

    def guide(self) -> ClickGuide:
        """The :mod:`lib.guidance` array transform for these settings."""
        if self.kind == "exp":
            return ExpDistanceGuide(sigma=self.sigma, gamma=self.gamma)
        if self.kind == "edt":
            return EuclideanDistanceGuide()
        return GeodesicDistanceGuide(channel=0, edge_weight=GDT_EDGE_WEIGHT)

    def as_dict(self) -> dict:
        """JSON-able form (saved with the weights)."""
        return {"guide": self.kind, "sigma": list(self.sigma), "gamma": self.gamma}


def guide_maps(image: np.ndarray, clicks: Iterable[Click], settings: GuideSettings) -> np.ndarray:
    """Foreground and background guide maps of clicks on a model-space image.

    Args:
        image: (1, X, Y, Z) model-space intensities (GDT reads them).
        clicks: model-space voxel indices (i, j, k) on ``image``'s grid.
        settings: the encoding.

    Returns:
        (2, X, Y, Z) float32: channel 0 from the foreground clicks, 1 from the background ones.
    """
    maps = np.asarray(settings.guide()(np.asarray(image, dtype=np.float32), list(clicks)), dtype=np.float32)
    if settings.kind != "exp":
        maps = maps / np.float32(DISTANCE_SCALE)
    return maps


__all__ = ["DISTANCE_SCALE", "GDT_EDGE_WEIGHT", "GUIDE_KINDS", "GuideSettings", "guide_maps"]
