"""A class-agnostic first guess from the clicks alone, given to the network as a fourth input.

The graph cut of the evaluation's baseline (:class:`lib.evaluation.baselines.GraphCutSegmenter`:
seed balls at the clicks, an intensity model from the seeds, a spatial prior from the click
distances) knows nothing of anatomy or modality, so it is exactly as good on an unseen structure
or contrast as on a seen one. The baseline seeds its whole ROI border as background (its ROI is
the structure's box plus a margin); a region around the clicks can be smaller than the structure
(a lung, a liver at 1 mm), so here the border is a background seed only where it does not look
like the foreground seeds (:func:`border_background`): a structure that reaches the border is not
cut off there by its own intensity. The network receives it
beside the image and the click guidance (the proposal model of ``weights.pt`` with 4 input
channels) and learns where to trust it and where to correct it: leaks through weak edges,
graph cut's shrinking bias on small structures, intensities shared with a neighbour.

Units: the image in model units (:mod:`lib.imaging.intensity`, about [-1, 1]) is mapped to
[0, 1] for the cut; clicks are model-voxel indices of the region; spacing is the region's
model voxel size in mm (seed radius and prior reach are in mm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lib.evaluation.baselines.graph_cut import GraphCutSegmenter
from lib.evaluation.baselines.seeds import border_mask, click_seeds
from lib.interaction.clicks import Click

#: The proposal's graph cut: the baseline's settings (chosen on training phantoms, see its module).
PROPOSAL_CUT = GraphCutSegmenter(name="proposal")
#: Input channels of a network that takes the proposal: image, foreground, background guidance, proposal.
PROPOSAL_CHANNELS = 4
#: A border voxel within this of the foreground seeds' intensity range (cut units, [0, 1]; 20 HU
#: under the ``ct`` policy) is not a background seed. Chosen on validation phantoms (seeds 800-808,
#: 3 x 3 x 6 mm held-out structures in CT, inverted, T1-like, and the GTV; own clicks), mean DSC@5 / @10:
#: 0.025: 0.654 / 0.735; 0.05: 0.677 / 0.765; 0.1: 0.673 / 0.754; the border everywhere (before): 0.628 / 0.704.
BORDER_TOLERANCE = 0.05
#: How the proposal seeds the region border, as a training run records it (``metrics.json``).
PROPOSAL_BORDER = f"background where unlike the foreground seeds (tolerance {BORDER_TOLERANCE:g})"
#: What a run that does not record it used (every model trained before 2026-12-04).
OLD_PROPOSAL_BORDER = "the whole region border as background"


def cut_intensity(image: np.ndarray) -> np.ndarray:
    """(X, Y, Z) model units (about [-1, 1]) -> float64 in [0, 1] for the cut."""
    return np.clip((np.asarray(image, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


def border_background(intensity: np.ndarray, foreground: np.ndarray,
                      tolerance: float = BORDER_TOLERANCE) -> np.ndarray:
    """(X, Y, Z) bool: the region's border voxels that are background seeds: outside the foreground
    seeds and farther than ``tolerance`` from the seeds' intensity range.

    Args:
        intensity: (X, Y, Z) float in [0, 1].
        foreground: (X, Y, Z) bool foreground seeds, not empty.
        tolerance: in ``intensity`` units.
    """
    seeds = intensity[foreground]
    alike = (intensity >= seeds.min() - tolerance) & (intensity <= seeds.max() + tolerance)
    return border_mask(intensity.shape) & ~foreground & ~alike


def proposal(image: np.ndarray, clicks: Sequence[Click], spacing: Sequence[float]) -> np.ndarray:
    """The graph cut of one region: (X, Y, Z) float32 in {0, 1}; zeros with no foreground click.

    Args:
        image: (X, Y, Z) float, model units.
        clicks: model-voxel clicks of the region.
        spacing: model voxel size (X, Y, Z) mm.
    """
    if not any(c.positive for c in clicks):
        return np.zeros(np.asarray(image).shape, dtype=np.float32)
    intensity = cut_intensity(image)
    foreground, background = click_seeds(clicks, intensity.shape, spacing, PROPOSAL_CUT.seed_radius_mm,
                                         border_background=False)
    background |= border_background(intensity, foreground)
    return PROPOSAL_CUT.cut_seeded(intensity, clicks, spacing, foreground, background).astype(np.float32)


__all__ = ["BORDER_TOLERANCE", "OLD_PROPOSAL_BORDER", "PROPOSAL_BORDER", "PROPOSAL_CHANNELS", "PROPOSAL_CUT", "border_background", "cut_intensity", "proposal"]
