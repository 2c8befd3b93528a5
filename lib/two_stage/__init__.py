"""2S-ICR: two-stage interactive click refinement (Saukkoriipi et al.; METHODS.md section 2).

Stage 1 (f_DL) is the automatic model (``lib.segmentation``, frozen); stage 2 (f_IDL) a
refinement UNet taking the image channels, the previous probability and positive / negative
click maps. Algorithm 1: no click -> stage 1's answer exactly; each click refines the LAST
answer with ALL clicks so far. The method's whole story, one idea per file:

- ``preprocess.py``: model space (RAS, 3 x 3 x 6 mm, CT [-200, 200] HU -> [-1, 1], PET z-scored).
- ``network.py``: both networks (MONAI UNet, paper shape, widths halved for the CPU) and loading.
- ``transforms.py``: mask dropout, crops around the target, the paper's augmentations, click maps.
- ``engine.py``: Algorithm 1 (:class:`TwoStageModel`, :func:`next_answer`), ensembles.
- ``loop.py``: a training iteration with an optimiser step at every simulated interaction.
- ``train.py`` / ``model_card.py``: ``python -m lib.two_stage.train``.
- ``segmenter.py``: the evaluation harness's adapter; ``report.py``: the paper's table.
"""

from lib.two_stage.engine import SessionState, TwoStageModel, next_answer
from lib.two_stage.network import load_refinement, load_stage1, refinement_unet
from lib.two_stage.preprocess import prepare_array, prepare_file

__all__ = [
    "SessionState",
    "TwoStageModel",
    "load_refinement",
    "load_stage1",
    "next_answer",
    "prepare_array",
    "prepare_file",
    "refinement_unet",
]
