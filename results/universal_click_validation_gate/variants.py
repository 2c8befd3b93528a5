"""Experiment (validation phantoms only): gate the network's weight in the click cut.

``--methods variants:<name>`` factories. Each replaces the served click cut
(:func:`lib.universal_click.click_cut.click_cut`, weight 0.5 from the second click) by one whose
network weight depends on evidence from the session itself:

- ``agree_*``: weight 0.5 times a function of the Dice between the network's answer (> 0.5) and the
  plain graph cut of the same clicks and seeds (the cut with network weight 0).
- ``neg_*``: weight 0.5 times ``decay ** n``, n the background clicks that fell inside the network's
  answer... approximated by all background clicks so far.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import lib.universal_click.zoom as zoom
from lib.evaluation.baselines.graph_cut import graph_cut_mask
from lib.evaluation.baselines.seeds import border_mask, click_seeds
from lib.metrics import dice
from lib.universal_click.click_cut import NETWORK_CLIP, ClickCut, _logit, click_cut
from lib.universal_click.proposal import PROPOSAL_CUT
from lib.universal_click.segmenter import PROPOSAL_WEIGHTS, UniversalClickSegmenter


@dataclass(frozen=True)
class GatedCut(ClickCut):
    gate: str = "none"          # "agree_linear", "agree_threshold", "neg"
    param: float = 0.0
    free: int = 0               # "neg": background clicks before the decay starts


def gated_cut(intensity, network_probability, clicks, spacing, settings):
    if not isinstance(settings, GatedCut) or settings.gate == "none":
        return click_cut(intensity, network_probability, clicks, spacing, settings)
    probability = np.asarray(network_probability, dtype=np.float32)
    if len(clicks) <= settings.first_clicks or not any(c.positive for c in clicks):
        return probability
    cut = PROPOSAL_CUT
    foreground, background = click_seeds(clicks, intensity.shape, spacing, cut.seed_radius_mm, border_background=False)
    background |= border_mask(intensity.shape) & (probability < 0.5) & ~foreground
    plain = cut.unary(intensity, clicks, spacing, foreground, background)
    weight = settings.weight
    if settings.gate.startswith("agree"):
        g = graph_cut_mask(intensity, plain, foreground, background, cut.lamda, cut.sigma) > 0.5
        a = dice(probability > 0.5, g)
        if settings.gate == "agree_linear":
            weight *= a
        elif settings.gate == "agree_threshold":
            weight *= float(a >= settings.param)
        elif settings.gate == "agree_power":
            weight *= a ** settings.param
    elif settings.gate == "neg":
        weight *= settings.param ** max(0, sum(not c.positive for c in clicks) - settings.free)
    network = np.clip(probability.astype(np.float64), NETWORK_CLIP, 1.0 - NETWORK_CLIP)
    logit = _logit(plain) + weight * _logit(network)
    unary = 1.0 / (1.0 + np.exp(-logit))
    return graph_cut_mask(intensity, unary, foreground, background, cut.lamda, cut.sigma)


zoom.click_cut = gated_cut


def _make(name: str, gate: str, param: float = 0.0, weight: float = 0.5, free: int = 0):
    def factory(_weights=None, device="cpu"):
        return UniversalClickSegmenter(PROPOSAL_WEIGHTS, device=device, name=name,
                                       cut=GatedCut(weight=weight, first_clicks=1, gate=gate, param=param, free=free))
    return factory


agree_linear = _make("agree_linear", "agree_linear")
agree_power2 = _make("agree_power2", "agree_power", 2.0)
agree_t05 = _make("agree_t05", "agree_threshold", 0.5)
agree_linear_w1 = _make("agree_linear_w1", "agree_linear", weight=1.0)
neg_07 = _make("neg_07", "neg", 0.7)
neg_05 = _make("neg_05", "neg", 0.5)


def _make_whole(name: str, gate: str, param: float = 0.0, weight: float = 0.5):
    def factory(_weights=None, device="cpu"):
        return UniversalClickSegmenter(PROPOSAL_WEIGHTS, device=device, name=name, local_correction=False,
                                       cut=GatedCut(weight=weight, first_clicks=1, gate=gate, param=param))
    return factory


neg_03 = _make("neg_03", "neg", 0.3)
neg_05_whole = _make_whole("neg_05_whole", "neg", 0.5)
neg_03_whole = _make_whole("neg_03_whole", "neg", 0.3)
served_whole = _make_whole("served_whole", "none")

neg_05_free1 = _make("neg_05_free1", "neg", 0.5, free=1)
neg_05_free2 = _make("neg_05_free2", "neg", 0.5, free=2)
neg_03_free2 = _make("neg_03_free2", "neg", 0.3, free=2)
