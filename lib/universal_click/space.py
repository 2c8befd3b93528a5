"""Where the universal click model works: constants shared by training, inference and its card.

- Patch: training samples are ``PATCH`` voxels (X, Y, Z); inference regions start at
  ``ROI`` voxels around the clicks and grow (AutoZoom, :mod:`lib.universal_click.zoom`).
- Resolution: the image's own voxel size (RAS-ordered), never finer than ``MIN_SPACING_MM``;
  coarser only when a region would exceed ``MAX_ROI`` voxels (zoom out).
- Intensity: ``"ct"`` or ``"percentile"`` (:mod:`lib.imaging.intensity`), chosen per image.
"""

from __future__ import annotations

from collections.abc import Sequence

from lib.imaging.intensity import CHOICES, DESCRIPTIONS

PATCH: tuple[int, int, int] = (64, 64, 32)
ROI: tuple[int, int, int] = (64, 64, 32)
#: The largest region one network pass sees, voxels (X, Y, Z): the latency target's 128 x 128 x 64.
MAX_ROI: tuple[int, int, int] = (128, 128, 64)
#: Model voxels are never finer than this, mm (a 0.5 mm image is seen at 1 mm).
MIN_SPACING_MM = 0.8
#: Margin around the clicks inside a region, voxels (X, Y, Z).
CLICK_MARGIN: tuple[int, int, int] = (16, 16, 8)
#: How much a region grows (per axis that the answer touches) or the voxel size coarsens per AutoZoom step.
ZOOM_FACTOR = 1.5
#: At most this many AutoZoom steps after the first pass.
MAX_ZOOM_STEPS = 3
#: Held out of training by default: the evaluation's unseen structures.
HELD_OUT: tuple[str, ...] = ("gtv", "liver", "spinal_canal")
#: Local correction of the proposal model (keyword settings of
#: :func:`lib.gaussian_click.local_correction.correct_locally`). Chosen on validation phantoms (seeds
#: 800-808, held-out structures, 3 x 3 x 6 mm, own clicks, 10 clicks), DSC@5 / @10, CT then T1-like:
#: the Gaussian-click defaults (confidence 0.35, shell 0 mm, margin 12 mm) 0.397 / 0.434, 0.497 / 0.546;
#: no shell 0.407 / 0.503, 0.553 / 0.617; confidence 0.1, no shell, margin 24 mm 0.431 / 0.502,
#: 0.592 / 0.640; answers taken whole 0.430 / 0.476, 0.596 / 0.642; graph cut 0.394 / 0.494, 0.575 / 0.667.
#: Its answers follow the graph cut, which the defaults (made for a network that regrows far from the
#: click) held back.
PROPOSAL_CORRECTION: dict = {"confidence": 0.1, "shell_mm": None, "margin_mm": 24.0}
GUIDANCE = "Gaussian clicks, sigma (2, 2, 1) model voxels (X, Y, Z); channel 1 foreground, 2 background"


PROPOSAL = ("graph cut of the clicks in the region (lib.universal_click.proposal), channel 3, {0, 1}")


def weights_meta(held_out: Sequence[str], structures: Sequence[str], proposal: bool = False) -> dict:
    """What ``weights.pt`` records beside the state dict (read back by the infer task and /info)."""
    return {
        "network": "gaussian_click_3d",
        "input_channels": 4 if proposal else 3,
        "proposal": PROPOSAL if proposal else None,
        "intensity_policies": DESCRIPTIONS,
        "intensity_choices": list(CHOICES),
        "patch": list(PATCH),
        "roi": list(ROI),
        "max_roi": list(MAX_ROI),
        "min_spacing_mm": MIN_SPACING_MM,
        "held_out": list(held_out),
        "trained_structures": list(structures),
        "guidance": GUIDANCE,
    }


__all__ = ["CLICK_MARGIN", "GUIDANCE", "PROPOSAL_CORRECTION", "HELD_OUT", "MAX_ROI", "MAX_ZOOM_STEPS", "MIN_SPACING_MM", "PATCH", "ROI",
           "ZOOM_FACTOR", "weights_meta"]
