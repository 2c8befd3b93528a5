"""Experiment: the served model with the proposal's region border as a background seed only where it
does not look like the foreground seeds; ``BORDER_TOL`` (cut units) and ``BORDER_RANGE`` (``minmax``:
the seeds' minimum-maximum, the rule taken into ``lib.universal_click.proposal``; ``quantile``: their
10th-90th percentiles) from the environment. Imported by ``run_border.py``, which patches it in."""
import os

import numpy as np

import lib.universal_click.zoom as zoom
from lib.evaluation.baselines.seeds import border_mask, click_seeds
from lib.universal_click.proposal import PROPOSAL_CUT, cut_intensity

TOL = float(os.environ.get("BORDER_TOL", "0.05"))
RANGE = os.environ.get("BORDER_RANGE", "minmax")


def proposal(image, clicks, spacing):
    if not any(c.positive for c in clicks):
        return np.zeros(np.asarray(image).shape, dtype=np.float32)
    intensity = cut_intensity(image)
    fg, bg = click_seeds(clicks, intensity.shape, spacing, PROPOSAL_CUT.seed_radius_mm, border_background=False)
    low, high = np.percentile(intensity[fg], [10, 90]) if RANGE == "quantile" else (intensity[fg].min(), intensity[fg].max())
    alike = (intensity >= low - TOL) & (intensity <= high + TOL)
    bg |= border_mask(intensity.shape) & ~fg & ~alike
    return PROPOSAL_CUT.cut_seeded(intensity, clicks, spacing, fg, bg).astype(np.float32)


def patch() -> None:
    zoom.proposal = proposal
