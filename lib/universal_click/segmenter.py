"""The universal click model as the evaluation harness sees it (:class:`InteractiveSegmenter`).

    python -m lib.evaluation --methods lib.universal_click.segmenter:universal_click_3d,graph_cut ...

Each call segments the region around all clicks with AutoZoom (:mod:`lib.universal_click.zoom`);
after the first answer, the newest click corrects the previous answer only near itself
(:func:`lib.gaussian_click.local_correction.correct_locally`, as the Gaussian-click 3D model
does). ``regions`` keeps, per case, the region of each answer, so an evaluation can report
the resolution ceiling of the grid the model actually answered on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lib.evaluation.protocol import Case
from lib.gaussian_click.local_correction import correct_locally
from lib.interaction.clicks import Click
from lib.universal_click.network import load_universal, takes_proposal
from lib.universal_click.space import PROPOSAL_CORRECTION
from lib.universal_click.zoom import PreparedUniversal, Region, prepare, segment

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO_ROOT / "models" / "universal_click_3d" / "weights.pt"
#: The model that also takes the graph-cut proposal (:mod:`lib.universal_click.proposal`).
PROPOSAL_WEIGHTS = REPO_ROOT / "models" / "universal_click_gc_3d" / "weights.pt"


def correction_settings(network: torch.nn.Module) -> dict:
    """The local-correction settings of a universal network: the proposal model's, or the defaults ({})."""
    return dict(PROPOSAL_CORRECTION) if takes_proposal(network) else {}


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
    """

    def __init__(self, weights: str | Path | None = None, network: torch.nn.Module | None = None,
                 policy: str = "auto", local_correction: bool = True, device: str = "cpu",
                 name: str = "universal_click_3d", correction: dict | None = None) -> None:
        self.network = network if network is not None else load_universal(weights or SHIPPED_WEIGHTS, device)
        self.policy = policy
        self.local_correction = local_correction
        self.device = device
        self.name = name
        self.correction = dict(correction if correction is not None else correction_settings(self.network))
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
        answer = segment(self.network, self.prepared(case), clicks, self.device)
        self.regions.setdefault(case.case_id, []).append(answer.region)
        if not self.local_correction:
            return answer.probability
        return correct_locally(answer.probability, clicks, previous, case.spacing, **self.correction)


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


#: Method name -> factory, for the evaluations that special-case the universal models.
UNIVERSAL_METHODS = {"universal_click_3d": universal_click_3d, "universal_click_gc": universal_click_gc,
                     "universal_click_gc_whole": universal_click_gc_whole}

__all__ = ["PROPOSAL_WEIGHTS", "correction_settings", "SHIPPED_WEIGHTS", "UNIVERSAL_METHODS", "UniversalClickSegmenter",
           "universal_click_3d", "universal_click_gc", "universal_click_gc_whole"]
