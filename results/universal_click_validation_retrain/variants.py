"""Segmenter factories for the retrain's validation runs (``--methods variants:new_f1,...``).

``UC_WEIGHTS`` (environment) names the retrained weights; default ``build/uc_v2/weights.pt`` (not committed: 5.7 MB, remade by the README command).
``f1``: the click cut from the second click (served until now); ``f0``: from the first click.
"""
import os

from lib.universal_click.click_cut import ClickCut
from lib.universal_click.segmenter import PROPOSAL_WEIGHTS, UniversalClickSegmenter


def _make(name: str, weights: str | None, first: int):
    def factory(_weights=None, device="cpu"):
        return UniversalClickSegmenter(weights or os.environ.get("UC_WEIGHTS", "build/uc_v2/weights.pt"),
                                       device=device, name=name, cut=ClickCut(weight=0.5, first_clicks=first))
    return factory


new_f1 = _make("uc_new_f1", None, 1)
new_f0 = _make("uc_new_f0", None, 0)
old_f0 = _make("uc_old_f0", str(PROPOSAL_WEIGHTS), 0)
