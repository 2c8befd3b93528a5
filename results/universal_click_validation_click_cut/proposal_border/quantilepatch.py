"""Experiment: the proposal's border exemption from the seeds' 10th-90th percentile range (not min-max)."""
import numpy as np
import lib.universal_click.zoom as zoom
from lib.evaluation.baselines.graph_cut import graph_cut_mask
from lib.evaluation.baselines.seeds import border_mask, click_seeds
from lib.universal_click.proposal import BORDER_TOLERANCE, PROPOSAL_CUT, cut_intensity

def proposal(image, clicks, spacing):
    if not any(c.positive for c in clicks):
        return np.zeros(np.asarray(image).shape, dtype=np.float32)
    intensity = cut_intensity(image)
    shape = intensity.shape
    fg, bg = click_seeds(clicks, shape, spacing, PROPOSAL_CUT.seed_radius_mm, border_background=False)
    low, high = np.percentile(intensity[fg], [10, 90])
    alike = (intensity >= low - BORDER_TOLERANCE) & (intensity <= high + BORDER_TOLERANCE)
    bg |= border_mask(shape) & ~fg & ~alike
    unary = PROPOSAL_CUT.unary(intensity, clicks, spacing, fg, bg)
    return graph_cut_mask(intensity, unary, fg, bg, PROPOSAL_CUT.lamda, PROPOSAL_CUT.sigma).astype(np.float32)

zoom.proposal = proposal
