"""Gaussian-click interactive segmentation (Sakinis et al., the interactive FCN; DeepGrow's origin).

The method's whole story, one idea per file:

- ``network.py``: the paper's encoder-decoder as MONAI's ``BasicUNet`` (2D, and a 3D variant).
- ``preprocess.py``: an image in model space (RAS, 3 mm in plane, CT window), and answers back
  on the input grid; :class:`PreparedImage` is what the session cache holds.
- ``inputs.py``: the network input: a window (one slice, or a 3D region) + Gaussian guidance.
- ``predict.py``: :class:`ClickSegmenter`: image + clicks -> probability on the input grid.
- ``samples.py``: one binary task per structure; training and validation windows.
- ``click_loop.py``: the paper's training: K prediction rounds of simulated clicks, one step.
- ``validate.py`` / ``model_card.py`` / ``train.py``: ``python -m lib.gaussian_click.train``.
- ``segmenter.py``: the evaluation harness's adapter.

The cache of prepared images is generic: :mod:`lib.session_cache`.
"""

from lib.gaussian_click.network import gaussian_click_net, load_network
from lib.gaussian_click.predict import ClickSegmenter, segment_prepared
from lib.imaging.prepare import PreparedImage, prepare_array, prepare_file

__all__ = [
    "ClickSegmenter",
    "PreparedImage",
    "gaussian_click_net",
    "load_network",
    "prepare_array",
    "prepare_file",
    "segment_prepared",
]
