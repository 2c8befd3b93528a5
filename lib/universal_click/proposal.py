"""A class-agnostic first guess from the clicks alone, given to the network as a fourth input.

The graph cut of the evaluation's baseline (:class:`lib.evaluation.baselines.GraphCutSegmenter`:
seed balls at the clicks, an intensity model from the seeds, a spatial prior from the click
distances, the region border as background) knows nothing of anatomy or modality, so it is
exactly as good on an unseen structure or contrast as on a seen one. The network receives it
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
from lib.interaction.clicks import Click

#: The proposal's graph cut: the baseline's settings (chosen on training phantoms, see its module).
PROPOSAL_CUT = GraphCutSegmenter(name="proposal")
#: Input channels of a network that takes the proposal: image, foreground, background guidance, proposal.
PROPOSAL_CHANNELS = 4


def cut_intensity(image: np.ndarray) -> np.ndarray:
    """(X, Y, Z) model units (about [-1, 1]) -> float64 in [0, 1] for the cut."""
    return np.clip((np.asarray(image, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


def proposal(image: np.ndarray, clicks: Sequence[Click], spacing: Sequence[float]) -> np.ndarray:
    """The graph cut of one region: (X, Y, Z) float32 in {0, 1}; zeros with no foreground click.

    Args:
        image: (X, Y, Z) float, model units.
        clicks: model-voxel clicks of the region.
        spacing: model voxel size (X, Y, Z) mm.
    """
    if not any(c.positive for c in clicks):
        return np.zeros(np.asarray(image).shape, dtype=np.float32)
    return PROPOSAL_CUT.cut(cut_intensity(image), clicks, spacing).astype(np.float32)


__all__ = ["PROPOSAL_CHANNELS", "PROPOSAL_CUT", "cut_intensity", "proposal"]
