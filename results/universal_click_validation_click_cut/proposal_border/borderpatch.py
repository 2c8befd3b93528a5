"""Experiment: the proposal's region border is a background seed only where it does not look like
the foreground seeds (a structure larger than the region is not cut off by its own intensity)."""
import numpy as np
import lib.universal_click.zoom as zoom
from lib.evaluation.baselines.graph_cut import graph_cut_mask
from lib.evaluation.baselines.seeds import border_mask, click_seeds
from lib.universal_click.proposal import PROPOSAL_CUT, cut_intensity
from lib.universal_click.segmenter import PROPOSAL_WEIGHTS, UniversalClickSegmenter

import os
TOL = float(os.environ.get("BORDER_TOL", "0.05"))

def proposal(image, clicks, spacing):
    if not any(c.positive for c in clicks):
        return np.zeros(np.asarray(image).shape, dtype=np.float32)
    intensity = cut_intensity(image)
    shape = intensity.shape
    fg, bg = click_seeds(clicks, shape, spacing, PROPOSAL_CUT.seed_radius_mm, border_background=False)
    seeds = intensity[fg]
    low, high = seeds.min() - TOL, seeds.max() + TOL
    border = border_mask(shape) & ~fg
    bg |= border & ~((intensity >= low) & (intensity <= high))
    unary = PROPOSAL_CUT.unary(intensity, clicks, spacing, fg, bg)
    return graph_cut_mask(intensity, unary, fg, bg, PROPOSAL_CUT.lamda, PROPOSAL_CUT.sigma).astype(np.float32)

def border(weights=None, device="cpu"):
    zoom.proposal = proposal
    return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, device=device, name="uc_border")
