"""DIN as the evaluation harness sees it (:class:`lib.evaluation.protocol.InteractiveSegmenter`).

    python -m lib.evaluation --methods din,random_walker,graph_cut --click-mode shared \\
        --simulator din_evaluation --max-clicks 20 ...

Every answer uses all clicks so far (DIN is stateless: the guides hold the whole history;
``previous`` is not used). With no click the answer is all zeros. Box mode: ``boxes_for``
gives the user's boxes of a case (input voxel corners, inclusive); the harness cannot draw
them itself, so the box-mode benchmark (``benchmarks/din_box.py``) supplies them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from lib.din.guides import GuideSettings
from lib.din.network import load_network
from lib.din.predict import CLICK_WINDOW_MARGIN, modality_of, segment_prepared, settings_of
from lib.din.preprocess import PreparedImage, model_space
from lib.evaluation.protocol import Case
from lib.interaction.clicks import Click

REPO_ROOT = Path(__file__).resolve().parents[2]
Corners = tuple[Sequence[int], Sequence[int]]


def shipped_weights(folder: str = "din") -> Path:
    """``models/<folder>/weights.pt`` at the repository root."""
    return REPO_ROOT / "models" / folder / "weights.pt"


class DinHarnessSegmenter:
    """The harness adapter of a DIN network.

    Args:
        weights: a ``weights.pt``; default the shipped ``models/din/weights.pt``.
        network: a network to use instead of loading ``weights`` (then ``settings`` applies).
        settings: guide settings; default those saved with the weights.
        name: the method's name in reports.
        boxes_for: case -> its boxes (input voxel corners) for box mode; None: whole region.
        device: where the network runs.
        modality: the network's model space; default that saved with the weights
            (``"ct"`` for a ``network`` given without one).
        window_margin: without boxes, segment only a window around the clicks with this margin
            (model voxels; :data:`lib.din.predict.CLICK_WINDOW_MARGIN` is what the server
            serves); None: the whole volume.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        network: torch.nn.Module | None = None,
        settings: GuideSettings | None = None,
        name: str = "din",
        boxes_for: Callable[[Case], Sequence[Corners]] | None = None,
        device: str = "cpu",
        modality: str | None = None,
        window_margin: Sequence[int] | None = None,
    ) -> None:
        if network is None:
            path = weights or shipped_weights()
            network = load_network(path, device)
            settings = settings or settings_of(path)
            modality = modality or modality_of(path)
        self.space = model_space(modality or "ct")
        self.network = network.to(device).eval()
        self.settings = settings or GuideSettings()
        self.name = name
        self.boxes_for = boxes_for
        self.device = device
        self.window_margin = window_margin
        self._prepared: tuple[str, int, PreparedImage] | None = None

    def _prepare(self, case: Case) -> PreparedImage:
        """The case in model space, kept while the harness stays on the same case."""
        if self._prepared is None or self._prepared[:2] != (case.case_id, id(case.image)):
            self._prepared = (case.case_id, id(case.image), self.space.prepare_array(case.image, case.affine))
        return self._prepared[2]

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """(X, Y, Z) float32 foreground probability after ``clicks`` on the case's grid."""
        if not clicks:
            return np.zeros(case.spatial_shape, dtype=np.float32)
        boxes = list(self.boxes_for(case)) if self.boxes_for is not None else []
        return segment_prepared(self.network, self._prepare(case), clicks, self.settings, boxes, self.device,
                                window_margin=self.window_margin)


def din(weights: str | Path | None = None, device: str = "cpu") -> DinHarnessSegmenter:
    """The shipped DIN model (ExpDT, both DIM outputs), for ``--methods din``."""
    return DinHarnessSegmenter(weights, device=device, name="din")


def din_window(weights: str | Path | None = None, device: str = "cpu") -> DinHarnessSegmenter:
    """The shipped DIN model on a window around the clicks, as the server serves it, for ``--methods din_window``."""
    return DinHarnessSegmenter(weights, device=device, name="din_window", window_margin=CLICK_WINDOW_MARGIN)


def _variant(folder: str, name: str) -> Callable[..., DinHarnessSegmenter]:
    def factory(weights: str | Path | None = None, device: str = "cpu") -> DinHarnessSegmenter:
        return DinHarnessSegmenter(weights or shipped_weights(folder), device=device, name=name)

    factory.__doc__ = f"The ablation model ``models/{folder}`` as ``--methods {name}``."
    return factory


def _with_sigma(sigma: tuple[float, float, float], name: str) -> Callable[..., DinHarnessSegmenter]:
    def factory(weights: str | Path | None = None, device: str = "cpu") -> DinHarnessSegmenter:
        path = weights or shipped_weights()
        return DinHarnessSegmenter(path, settings=settings_of(path).with_request(sigma=sigma), device=device, name=name)

    factory.__doc__ = f"The shipped model with ExpDT sigma {sigma} (X, Y, Z) set at inference, as ``{name}``."
    return factory


#: sigma chosen at inference time (the paper tunes it there): narrower, and the paper's best (z, y, x) = (1.5, 6, 6).
din_sigma_3_3_1 = _with_sigma((3.0, 3.0, 1.0), "din_sigma_3_3_1")
din_sigma_6_6_1p5 = _with_sigma((6.0, 6.0, 1.5), "din_sigma_6_6_1.5")

din_exp_short = _variant("din_exp_short", "din_exp_short")
din_edt_short = _variant("din_edt_short", "din_edt_short")
din_gdt_short = _variant("din_gdt_short", "din_gdt_short")
din_input_only_short = _variant("din_input_only_short", "din_input_only_short")
#: The STIR model (``models/din_stir``, trained on the MRI-STIR-like phantoms), as ``--methods din_stir``.
din_stir = _variant("din_stir", "din_stir")


__all__ = [
    "DinHarnessSegmenter",
    "din",
    "din_edt_short",
    "din_exp_short",
    "din_gdt_short",
    "din_input_only_short",
    "din_sigma_3_3_1",
    "din_sigma_6_6_1p5",
    "din_stir",
    "shipped_weights",
]
