"""The universal click model as the evaluation harness sees it (:class:`InteractiveSegmenter`).

    python -m lib.evaluation --methods lib.universal_click.segmenter:universal_click_3d,graph_cut ...

Each call segments the region around all clicks with AutoZoom (:mod:`lib.universal_click.zoom`);
for the proposal model, the network's answer is then cut again with every click as a hard seed
(:mod:`lib.universal_click.click_cut`); after the first answer, the newest click corrects the
previous answer only near itself (:func:`lib.gaussian_click.local_correction.correct_locally`,
as the Gaussian-click 3D model does). :func:`answer_clicks` is that whole step, shared with the
served infer task (``infers/universal_click.py``). ``regions`` keeps, per case, the region of
each answer, so an evaluation can report the resolution ceiling of the grid the model actually
answered on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lib.evaluation.protocol import Case
from lib.gaussian_click.local_correction import CORRECTION_CONFIDENCE, correct_locally_in_box, lowest_read
from lib.imaging.boxes import Box, cut_to_floor, paste
from lib.interaction.clicks import Click
from lib.universal_click.click_cut import PROPOSAL_RECUT, ClickCut
from lib.universal_click.network import load_universal, takes_proposal
from lib.universal_click.space import PROPOSAL_CORRECTION
from lib.universal_click.zoom import Answer, PreparedUniversal, Region, prepare, segment

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO_ROOT / "models" / "universal_click_3d" / "weights.pt"
#: The model that also takes the graph-cut proposal (:mod:`lib.universal_click.proposal`).
PROPOSAL_WEIGHTS = REPO_ROOT / "models" / "universal_click_gc_3d" / "weights.pt"


def correction_settings(network: torch.nn.Module) -> dict:
    """The local-correction settings of a universal network: the proposal model's, or the defaults ({})."""
    return dict(PROPOSAL_CORRECTION) if takes_proposal(network) else {}


def recut_settings(network: torch.nn.Module) -> ClickCut | None:
    """The click cut of a universal network: the proposal model's (:data:`PROPOSAL_RECUT`), or None."""
    return PROPOSAL_RECUT if takes_proposal(network) else None


def answer_clicks(network: torch.nn.Module, prepared: PreparedUniversal, clicks: Sequence[Click],
                  previous: np.ndarray | None, spacing: Sequence[float], device: str | torch.device = "cpu",
                  correction: dict | None = None, recut: ClickCut | None = None,
                  local_correction: bool = True) -> tuple[np.ndarray, Answer]:
    """One answer of the universal model on the input grid, as the harness and the infer task give it.

    Args:
        network: the universal network.
        prepared: the image (:func:`lib.universal_click.zoom.prepare`).
        clicks: every click of the session, input-grid indices (i, j, k), at least one foreground.
        previous: (X, Y, Z) previous answer on the input grid (> 0.5 foreground), or None.
        spacing: input voxel size (X, Y, Z) mm (the local correction's distances).
        device: where the network runs.
        correction: keyword settings of :func:`lib.gaussian_click.local_correction.correct_locally` (None: its defaults).
        recut: the click cut (:mod:`lib.universal_click.click_cut`), or None for the network's answer.
        local_correction: merge into ``previous`` near the correction clicks, or take the answer whole.

    Returns:
        ``(probability, answer)``: (X, Y, Z) float32 on the input grid, and the zoom's answer
        (its region and passes).
    """
    values, box, answer = answer_clicks_in_box(network, prepared, clicks, previous, spacing, device, correction,
                                               recut, local_correction)
    return paste(values, box, prepared.prepared.input_shape), answer


def answer_clicks_in_box(network: torch.nn.Module, prepared: PreparedUniversal, clicks: Sequence[Click],
                         previous: np.ndarray | None, spacing: Sequence[float], device: str | torch.device = "cpu",
                         correction: dict | None = None, recut: ClickCut | None = None,
                         local_correction: bool = True) -> tuple[np.ndarray, Box, Answer]:
    """:func:`answer_clicks` as (float32 probability on a box of the input grid, the box, the zoom's
    answer); 0 outside the box. The local correction runs in its work box
    (:func:`lib.gaussian_click.local_correction.correct_locally_in_box`: the same answer as on the
    whole grid), so a click on a 512 x 512 x 160 study does not cost the study."""
    answer = segment(network, prepared, clicks, device, recut=recut)
    settings = correction or {}
    floor = lowest_read(local_correction, settings.get("confidence", CORRECTION_CONFIDENCE))
    values, box = cut_to_floor(answer.probability[answer.box], answer.box, floor)
    if not local_correction:
        return values, box, answer
    values, box = correct_locally_in_box(values, box, prepared.prepared.input_shape, clicks, previous, spacing,
                                         **settings)
    return values, box, answer


class UniversalClickSegmenter:
    """:class:`lib.evaluation.protocol.InteractiveSegmenter` by the universal click network.

    Args:
        weights: a ``weights.pt``; default the shipped one.
        network: a network to use instead (tests).
        policy: intensity policy (``"auto"``, ``"ct"``, ``"percentile"``).
        local_correction: correct the previous answer near the newest click only (default) or take
            each answer whole.
        device: where the network runs.
        name: the method's name in reports.
        correction: keyword settings of :func:`lib.gaussian_click.local_correction.correct_locally`
            (``margin_mm``, ``shell_mm``, ``confidence``); None: the proposal model's
            (:data:`lib.universal_click.space.PROPOSAL_CORRECTION`) for a network that takes the
            proposal, the function's defaults otherwise.
        recut: cut the network's answer again with every click as a hard seed
            (:mod:`lib.universal_click.click_cut`).
        cut: the click cut's settings; None: :func:`recut_settings` (the proposal model's, none for
            the plain model).
    """

    def __init__(self, weights: str | Path | None = None, network: torch.nn.Module | None = None,
                 policy: str = "auto", local_correction: bool = True, device: str = "cpu",
                 name: str = "universal_click_3d", correction: dict | None = None,
                 recut: bool = True, cut: ClickCut | None = None) -> None:
        self.network = network if network is not None else load_universal(weights or SHIPPED_WEIGHTS, device)
        self.policy = policy
        self.local_correction = local_correction
        self.device = device
        self.name = name
        self.correction = dict(correction if correction is not None else correction_settings(self.network))
        self.cut = (cut if cut is not None else recut_settings(self.network)) if recut else None
        self.regions: dict[str, list[Region]] = {}
        self.policies: dict[str, str] = {}
        self._prepared: tuple[str, int, PreparedUniversal] | None = None

    def prepared(self, case: Case) -> PreparedUniversal:
        """The case in RAS order and model units, kept while the harness stays on the same case."""
        if self._prepared is None or self._prepared[:2] != (case.case_id, id(case.image)):
            self._prepared = (case.case_id, id(case.image), prepare(case.image, case.affine, self.policy))
            self.policies[case.case_id] = self._prepared[2].policy
        return self._prepared[2]

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """(X, Y, Z) float32 foreground probability after ``clicks``."""
        base = np.zeros(case.spatial_shape, np.float32) if previous is None else np.asarray(previous, np.float32)
        if not any(c.positive for c in clicks):
            return base.copy()
        probability, answer = answer_clicks(self.network, self.prepared(case), clicks, previous, case.spacing,
                                            self.device, self.correction, self.cut, self.local_correction)
        self.regions.setdefault(case.case_id, []).append(answer.region)
        return probability


def universal_click_3d(weights: str | Path | None = None, device: str = "cpu") -> UniversalClickSegmenter:
    """The shipped universal click model, for ``--methods``."""
    return UniversalClickSegmenter(weights, device=device)


def universal_click_gc(weights: str | Path | None = None, device: str = "cpu") -> UniversalClickSegmenter:
    """The universal click model that refines the graph-cut proposal, for ``--methods``."""
    return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, device=device, name="universal_click_gc")


def universal_click_gc_whole(weights: str | Path | None = None, device: str = "cpu") -> UniversalClickSegmenter:
    """:func:`universal_click_gc` taking each answer whole (no local correction), for ``--methods``."""
    return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, local_correction=False, device=device,
                                   name="universal_click_gc_whole")


def universal_click_gc_no_recut(weights: str | Path | None = None, device: str = "cpu") -> UniversalClickSegmenter:
    """:func:`universal_click_gc` without the click cut (the network's answers), for ``--methods``."""
    return UniversalClickSegmenter(weights or PROPOSAL_WEIGHTS, device=device, recut=False,
                                   name="universal_click_gc_no_recut")


#: Method name -> factory, for the evaluations that special-case the universal models.
UNIVERSAL_METHODS = {"universal_click_3d": universal_click_3d, "universal_click_gc": universal_click_gc,
                     "universal_click_gc_whole": universal_click_gc_whole,
                     "universal_click_gc_no_recut": universal_click_gc_no_recut}

__all__ = ["PROPOSAL_WEIGHTS", "answer_clicks", "answer_clicks_in_box", "correction_settings", "recut_settings", "SHIPPED_WEIGHTS",
           "UNIVERSAL_METHODS", "UniversalClickSegmenter", "universal_click_3d", "universal_click_gc", "universal_click_gc_no_recut", "universal_click_gc_whole"]
