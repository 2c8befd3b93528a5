from lib.universal_click.segmenter import PROPOSAL_WEIGHTS, UniversalClickSegmenter
from lib.universal_click.click_cut import ClickCut

def _make(name, weight, first):
    def factory(weights=None, device="cpu"):
        return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, device=device, name=name,
                                       cut=ClickCut(weight=weight, first_clicks=first))
    return factory

w05f1 = _make("uc_w0.5_f1", 0.5, 1)
w1f1 = _make("uc_w1_f1", 1.0, 1)
w05f0 = _make("uc_w0.5_f0", 0.5, 0)
w1f0 = _make("uc_w1_f0", 1.0, 0)
w2f0 = _make("uc_w2_f0", 2.0, 0)
w2f1 = _make("uc_w2_f1", 2.0, 1)
w025f1 = _make("uc_w0.25_f1", 0.25, 1)
