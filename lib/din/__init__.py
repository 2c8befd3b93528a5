"""DIN: deep interactive networks with exponential distance guides (Zhang et al.).

The method's whole story, one idea per file:

- ``network.py``: the anisotropic 3D U-Net of the paper's Table I with the deep interactive
  module (guides at the input, and pooled + one strided conv added at the deepest block).
- ``guides.py``: clicks -> foreground / background guide maps: ExpDT (DIN), EDT, GDT, via
  :mod:`lib.guidance`; sigma and gamma as request-time settings.
- ``preprocess.py``: model space (RAS, 3 x 3 x 6 mm, CT window) and back to the input grid.
- ``predict.py``: image + clicks (+ boxes) -> probability on the input grid; :class:`DinSegmenter`
  with the session cache.
- ``samples.py``: training patches (half with tumour) + the paper's training clicks.
- ``validate.py`` / ``model_card.py`` / ``train.py``: ``python -m lib.din.train``.
- ``segmenter.py``: the evaluation harness's adapter.
"""

from lib.din.guides import GuideSettings, guide_maps
from lib.din.network import DeepInteractiveNetwork, din_network, load_network
from lib.din.predict import DinSegmenter, parse_boxes, segment_prepared

__all__ = [
    "DeepInteractiveNetwork",
    "DinSegmenter",
    "GuideSettings",
    "din_network",
    "guide_maps",
    "load_network",
    "parse_boxes",
    "segment_prepared",
]
