"""The last step of a universal answer: a graph cut in which every click is a hard seed and the
network's answer is one more piece of evidence.

The proposal network answers well from one click but hardly moves with later ones: its U-Net
residual outvotes the graph-cut proposal that a new click changes (held-out GTV, 10 clicks:
0.69 after one click, 0.75 after ten, while the graph cut alone climbs from 0.44 to 0.86).
From the second click on, the network's logit (probability clipped to
[``NETWORK_CLIP``, 1 - ``NETWORK_CLIP``]) times ``weight`` is added to the logit of the graph
cut's own unary term (:mod:`lib.evaluation.baselines.graph_cut`: intensity histograms of the
seeds times the click-distance prior, as independent evidence) and the region is cut with the
seed balls of ALL clicks as hard constraints. Each click then moves the answer as it moves the
graph cut (its seeds, the seeds' intensity model, its spatial prior, and the smoothness term
carrying them along the structure), while where the clicks say little the network's answer
stands. The region's border is a background seed only where the network's answer does not
reach it (a structure larger than the region is not cut off at the border).

Each background click after the first halves the network's weight (``background_decay``,
``free_background_clicks``): a background click is the user removing something the answer claimed, and on a structure the network does not know
its answer claims the neighbour (the spinal canal: the bone around it), so the clicks' own cut
should take over as such corrections accumulate (one trim is ordinary, so the first is free).

Arrays (X, Y, Z) of one region at model resolution; intensity in [0, 1]; spacing in mm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lib.evaluation.baselines.graph_cut import graph_cut_mask
from lib.evaluation.baselines.seeds import border_mask, click_seeds
from lib.interaction.clicks import Click
from lib.universal_click.proposal import PROPOSAL_CUT

#: The network's probability is kept in [NETWORK_CLIP, 1 - NETWORK_CLIP] before its logit is taken.
NETWORK_CLIP = 0.01


@dataclass(frozen=True)
class ClickCut:
    """Settings of :func:`click_cut`.

    Attributes:
        weight: the network's logit is multiplied by this (>= 0; 0: the plain graph cut of the clicks).
        first_clicks: with at most this many clicks the network's answer is taken as it is.
        background_decay: the weight is multiplied by this once per background click beyond the
            first ``free_background_clicks``, in [0, 1] (1: the same weight whatever the clicks).
        free_background_clicks: background clicks before the decay starts (>= 0).
    """

    weight: float = 1.0
    first_clicks: int = 1
    background_decay: float = 1.0
    free_background_clicks: int = 0

    def __post_init__(self) -> None:
        if self.weight < 0.0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")
        if self.first_clicks < 0:
            raise ValueError(f"first_clicks must be >= 0, got {self.first_clicks}")
        if not 0.0 <= self.background_decay <= 1.0:
            raise ValueError(f"background_decay must be in [0, 1], got {self.background_decay}")
        if self.free_background_clicks < 0:
            raise ValueError(f"free_background_clicks must be >= 0, got {self.free_background_clicks}")

    def network_weight(self, clicks: Sequence[Click]) -> float:
        """The network's weight after ``clicks``: ``weight * background_decay ** n``, n the background
        clicks beyond the first ``free_background_clicks``."""
        background = sum(not c.positive for c in clicks)
        return self.weight * self.background_decay ** max(0, background - self.free_background_clicks)


#: The proposal model's click cut. Chosen on validation phantoms (seeds 800-808; held-out structures at
#: 3 x 3 x 6 mm in CT, inverted and T1-like contrast, and the GTV on CT; own clicks, 10 clicks), after
#: the phantoms' spinal-canal label was fixed (it had left most of the canal labelled bone), mean DSC@5
#: / @10 over the four cells: weight 2 (the earlier choice) 0.623 / 0.680; weight 1 0.619 / 0.671;
#: weight 0.5 0.628 / 0.704; the same from the first click (first_clicks 0): weight 0.5 0.623 / 0.698,
#: weight 1 0.622 / 0.660, weight 2 0.618 / 0.677; graph cut 0.610 / 0.697
#: (``results/universal_click_validation_click_cut/canal_label_fixed/``). On the first, wrong labels
#: weight 2 had been best (0.595 at 5 clicks; weight 0.5 was not tried). With the proposal's new
#: region border (:func:`lib.universal_click.proposal.border_background`): weight 0.25 / 0.5 / 1 / 2:
#: 0.633 / 0.750, 0.677 / 0.765, 0.689 / 0.735, 0.678 / 0.733 (``.../proposal_border/``): 0.5 stays.
#: The weight decayed per background click (same cells): decay 1 (before) 0.677 / 0.765; 0.7 0.664 /
#: 0.786; 0.5 0.672 / 0.788; 0.3 0.667 / 0.793; decay 0.5 after one free background click 0.681 /
#: 0.793, after two 0.680 / 0.790; 0.3 after two 0.678 / 0.798; gating by the network's agreement with
#: the plain cut instead 0.612-0.636 / 0.732-0.747 (``results/universal_click_validation_gate/``):
#: 0.5 after one free click (the best at 5 clicks, and better than before at 10).
PROPOSAL_RECUT = ClickCut(weight=0.5, background_decay=0.5, free_background_clicks=1)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def click_cut(intensity: np.ndarray, network_probability: np.ndarray, clicks: Sequence[Click],
              spacing: Sequence[float], settings: ClickCut) -> np.ndarray:
    """The network's answer cut again with every click as a hard seed (module doc).

    Args:
        intensity: (X, Y, Z) float in [0, 1] (:func:`lib.universal_click.proposal.cut_intensity`).
        network_probability: (X, Y, Z) float foreground probability of the network.
        clicks: model-voxel clicks of the region.
        spacing: model voxel size (X, Y, Z) mm.
        settings: the network's weight, its decay with background clicks, and when the cut starts.

    Returns:
        (X, Y, Z) float32: the network's probability with at most ``settings.first_clicks``
        clicks or no foreground click, else the cut in {0, 1}.
    """
    probability = np.asarray(network_probability, dtype=np.float32)
    if len(clicks) <= settings.first_clicks or not any(c.positive for c in clicks):
        return probability
    cut = PROPOSAL_CUT
    shape = intensity.shape
    foreground, background = click_seeds(clicks, shape, spacing, cut.seed_radius_mm, border_background=False)
    background |= border_mask(shape) & (probability < 0.5) & ~foreground
    network = np.clip(probability.astype(np.float64), NETWORK_CLIP, 1.0 - NETWORK_CLIP)
    logit = _logit(cut.unary(intensity, clicks, spacing, foreground, background)) + settings.network_weight(clicks) * _logit(network)
    unary = 1.0 / (1.0 + np.exp(-logit))
    return graph_cut_mask(intensity, unary, foreground, background, cut.lamda, cut.sigma)


__all__ = ["NETWORK_CLIP", "PROPOSAL_RECUT", "ClickCut", "click_cut"]
