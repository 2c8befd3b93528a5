"""The Gaussian-click model as the evaluation harness sees it (:class:`InteractiveSegmenter`).

    python -m lib.evaluation --methods lib.gaussian_click.segmenter:gaussian_click_2d,random_walker ...

The harness gives clicks oldest first, so the 2D model segments the slice of the NEWEST
click (``anchor=clicks[-1]``) with the clicks on that slice, and keeps the previous answer on
every other slice (a user works slice by slice; what was done elsewhere stays). The 3D model
answers the region around all clicks, and the newest click corrects the previous answer only
near itself (:func:`lib.gaussian_click.local_correction.correct_locally`; the server's 3D
infer task does the same with the previous label a request uploads). With no foreground
click yet the answer is the previous one (or all zeros): the paper's model needs a
foreground click.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lib.evaluation.protocol import Case
from lib.gaussian_click.inputs import paste_from_window
from lib.gaussian_click.local_correction import (
    CORRECTION_CONFIDENCE,
    CORRECTION_MARGIN_MM,
    CORRECTION_SHELL_MM,
    correct_locally,
    lowest_read,
)
from lib.gaussian_click.network import load_network
from lib.gaussian_click.predict import answer_window, segment_prepared
from lib.imaging.prepare import PreparedImage, prepare_array
from lib.interaction.clicks import Click

REPO_ROOT = Path(__file__).resolve().parents[2]


def shipped_weights(dims: int) -> Path:
    """``models/gaussian_click_<dims>d/weights.pt`` at the repository root."""
    return REPO_ROOT / "models" / f"gaussian_click_{dims}d" / "weights.pt"


class GaussianClickSegmenter:
    """:class:`lib.evaluation.protocol.InteractiveSegmenter` by a Gaussian-click network.

    Args:
        weights: a ``weights.pt``; default the shipped one for ``dims``.
        dims: 2 or 3.
        network: a network to use instead of loading ``weights`` (tests).
        device: where the network runs.
        name: the method's name in reports; default ``gaussian_click_<dims>d``.
        margin_mm: 3D only, added to a correction click's depth to give the radius it may
            change (:func:`lib.gaussian_click.local_correction.correct_locally`).
        shell_mm: 3D only, how far beyond its depth from the previous contour a correction
            click may change voxels (same function); None: no limit.
        confidence: 3D only, how sure the network must be to overrule the previous answer.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        dims: int = 2,
        network: torch.nn.Module | None = None,
        device: str = "cpu",
        name: str | None = None,
        margin_mm: float = CORRECTION_MARGIN_MM,
        shell_mm: float | None = CORRECTION_SHELL_MM,
        confidence: float = CORRECTION_CONFIDENCE,
    ) -> None:
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims!r}")
        self.dims = dims
        self.device = device
        self.network = network if network is not None else load_network(weights or shipped_weights(dims), dims, device)
        self.name = name or f"gaussian_click_{dims}d"
        self.margin_mm = float(margin_mm)
        self.shell_mm = shell_mm
        self.confidence = float(confidence)
        self._prepared: tuple[str, int, PreparedImage] | None = None

    def _prepare(self, case: Case) -> PreparedImage:
        """The case in model space, kept while the harness stays on the same case."""
        if self._prepared is None or self._prepared[:2] != (case.case_id, id(case.image)):
            self._prepared = (case.case_id, id(case.image), prepare_array(case.image, case.affine, self.dims))
        return self._prepared[2]

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """(X, Y, Z) float32 foreground probability after ``clicks`` (see the module doc)."""
        base = np.zeros(case.spatial_shape, np.float32) if previous is None else np.asarray(previous, np.float32)
        if not any(c.positive for c in clicks):
            return base.copy()
        prepared = self._prepare(case)
        floor = lowest_read(self.dims == 3, self.confidence)  # 3D answers are corrected locally
        answer = segment_prepared(self.network, prepared, clicks, clicks[-1], self.device, floor=floor)
        if self.dims == 3:
            return correct_locally(
                answer, clicks, previous, case.spacing, self.margin_mm, self.shell_mm, self.confidence
            )
        covered = self._covered(prepared, clicks)
        return np.where(covered, answer, base).astype(np.float32)

    def _covered(self, prepared: PreparedImage, clicks: Sequence[Click]) -> np.ndarray:
        """(X, Y, Z) bool: the input voxels the segmented slice answers for."""
        model_clicks = prepared.clicks_to_model(clicks)
        window = answer_window(prepared, model_clicks, model_clicks[-1])
        ones = np.ones(window.size, np.float32)
        model_space = paste_from_window(ones, window, prepared.spatial_shape)
        return prepared.to_input_grid(model_space, prepared.input_region(window.box)) > 0.5


def gaussian_click_2d(weights: str | Path | None = None, device: str = "cpu") -> GaussianClickSegmenter:
    """The 2D model (shipped weights by default), for ``--methods``."""
    return GaussianClickSegmenter(weights, dims=2, device=device)


def gaussian_click_3d(weights: str | Path | None = None, device: str = "cpu") -> GaussianClickSegmenter:
    """The 3D model (shipped weights by default), for ``--methods``."""
    return GaussianClickSegmenter(weights, dims=3, device=device)


#: The unseen-structure test's 2D model (the paper's test is 2D): trained on heart, lung, liver, aorta,
#: bone and spinal canal, never on the GTV (``python -m lib.gaussian_click.train --dims 2 --organs
#: --exclude-structure gtv``).
UNSEEN_GTV_WEIGHTS = REPO_ROOT / "models" / "gaussian_click_2d_unseen_gtv" / "weights.pt"


def gaussian_click_2d_unseen_gtv(device: str = "cpu") -> GaussianClickSegmenter:
    """The 2D model that never saw a GTV in training, for ``--methods`` (the unseen-structure test)."""
    return GaussianClickSegmenter(UNSEEN_GTV_WEIGHTS, dims=2, device=device, name="gaussian_click_2d_unseen_gtv")


__all__ = [
    "UNSEEN_GTV_WEIGHTS",
    "GaussianClickSegmenter",
    "gaussian_click_2d",
    "gaussian_click_3d",
    "gaussian_click_2d_unseen_gtv",
    "shipped_weights",
]
