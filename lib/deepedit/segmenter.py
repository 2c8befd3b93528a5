"""The DeepEdit-style model behind the evaluation harness, and the shipped PET-CT variants.

DeepEdit has no state: each answer is ONE pass of the network over the image with ALL
clicks so far as guidance channels (no click: the guidance is 0 and the network answers as
an automatic model). The previous answer is not an input (``previous`` is ignored).
Inference: model space (:mod:`lib.two_stage.preprocess`), ONE pass of the network over the
whole (harness-cropped) image, edge-padded to a multiple of 8 (MONAI's DeepEdit also answers in
one pass over the whole, resized, image; stage 1's sliding 64 x 64 x 32 windows cost 8 passes
of the 90 mm ROI, and DeepEdit runs at every click), the GTV probability brought back to the
input grid.

    python -m lib.evaluation --name two_stage_petct --pet --methods two_stage_petct,deepedit_petct_p00 ...
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lib.deepedit.guidance import GUIDANCE_SIGMA, guidance_channels, guidance_from_clicks
from lib.deepedit.network import load_deepedit
from lib.evaluation.protocol import Case
from lib.interaction.clicks import Click
from lib.two_stage.network import SIZE_DIVISOR
from lib.two_stage.engine import gtv_probability
from lib.two_stage.preprocess import PreparedImage, prepare_array

MODELS = Path(__file__).resolve().parents[2] / "models"


@torch.no_grad()
def deepedit_probability(network: torch.nn.Module, image: torch.Tensor, clicks: Sequence[Click],
                         sigma: float = GUIDANCE_SIGMA) -> torch.Tensor:
    """(X, Y, Z) GTV probability of a (C, X, Y, Z) model-space image with model-space ``clicks``.

    As stage 1's (:func:`lib.two_stage.engine.gtv_probability`): above 0.5 exactly where GTV is
    the arg-max class.
    """
    network.eval()
    channels = int(image.shape[0])
    inputs = guidance_channels(np.asarray(image, dtype=np.float32), guidance_from_clicks(clicks), channels, sigma)
    shape = inputs.shape[1:]
    pad = [(0, 0)] + [(0, -n % SIZE_DIVISOR) for n in shape]
    padded = torch.from_numpy(np.pad(inputs, pad, mode="edge"))
    logits = network(padded[None])[0, :, : shape[0], : shape[1], : shape[2]]
    return gtv_probability(torch.softmax(logits.float(), dim=0))


class DeepEditSegmenter:
    """One DeepEdit-style network as an :class:`lib.evaluation.protocol.InteractiveSegmenter`.

    Args:
        network: (B, C + 2, X, Y, Z) -> (B, 3, X, Y, Z) logits (:func:`lib.deepedit.network.deepedit_unet`).
        name: the method's name in reports.
        image_channels: C (2 for PET-CT).
    """

    def __init__(self, network: torch.nn.Module, name: str, image_channels: int = 2) -> None:
        self.network = network.eval()
        self.name = name
        self.image_channels = int(image_channels)
        self._key: tuple[str, int] | None = None
        self._prepared: PreparedImage | None = None

    def _prepare(self, case: Case) -> PreparedImage:
        key = (case.case_id, id(case.image))
        if self._key != key or self._prepared is None:
            self._key, self._prepared = key, prepare_array(case.image, case.affine, self.image_channels)
        return self._prepared

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """(X, Y, Z) float32 GTV probability on the case's grid after ``clicks`` (input voxel indices)."""
        prepared = self._prepare(case)
        model_clicks = prepared.clicks_to_model(prepared.check_clicks(clicks)) if clicks else []
        return prepared.to_input_grid(deepedit_probability(self.network, prepared.image, model_clicks).numpy())


def from_weights(path: str | Path, name: str, device: str = "cpu") -> DeepEditSegmenter:
    """A segmenter of a weights file written by :mod:`lib.deepedit.train`."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True) if Path(path).exists() else {}
    return DeepEditSegmenter(load_deepedit(path, device), name, int(checkpoint.get("image_channels", 2)))


def deepedit_petct_p00(device: str = "cpu") -> DeepEditSegmenter:
    """DeepEdit on PET-CT, no click-free iterations."""
    return from_weights(MODELS / "deepedit_petct_p00" / "weights.pt", "deepedit_petct_p00", device)


def deepedit_petct_p25(device: str = "cpu") -> DeepEditSegmenter:
    """DeepEdit on PET-CT, 25 % click-free iterations."""
    return from_weights(MODELS / "deepedit_petct_p25" / "weights.pt", "deepedit_petct_p25", device)


def deepedit_petct_p50(device: str = "cpu") -> DeepEditSegmenter:
    """DeepEdit on PET-CT, 50 % click-free iterations."""
    return from_weights(MODELS / "deepedit_petct_p50" / "weights.pt", "deepedit_petct_p50", device)


__all__ = [
    "DeepEditSegmenter",
    "deepedit_petct_p00",
    "deepedit_petct_p25",
    "deepedit_petct_p50",
    "deepedit_probability",
    "from_weights",
]
