from lib.universal_click.segmenter import PROPOSAL_WEIGHTS, UniversalClickSegmenter

def _make(name, **settings):
    def factory(weights=None, device="cpu"):
        return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, device=device, name=name,
                                       correction={"confidence": 0.1, "shell_mm": None, "margin_mm": 24.0, **settings})
    return factory

served = _make("uc_served")
shell3 = _make("uc_shell3", shell_mm=3.0)
shell6 = _make("uc_shell6", shell_mm=6.0)
shell12 = _make("uc_shell12", shell_mm=12.0)
margin12 = _make("uc_margin12", margin_mm=12.0)

def no_recut(weights=None, device="cpu"):
    return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, device=device, recut=False, name="uc_no_recut")

def whole(weights=None, device="cpu"):
    return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, device=device, local_correction=False, name="uc_whole")

shell0 = _make("uc_shell0", shell_mm=0.0)
gc_defaults = _make("uc_gc_defaults", shell_mm=0.0, confidence=0.35, margin_mm=12.0)

def k10(weights=None, device="cpu"):
    return UniversalClickSegmenter(weights or "build/uc_k10_step100.pt", device=device, name="uc_k10")
