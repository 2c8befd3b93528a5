"""2S-ICR as the evaluation harness sees it (:class:`lib.evaluation.protocol.InteractiveSegmenter`).

    python -m lib.evaluation --name two_stage_ct --methods two_stage_ct,two_stage_ct_stage1,random_walker,graph_cut \\
        --simulator border_distance --click-mode shared --first-click prediction --max-clicks 10 --cases 20

- ``two_stage_ct`` (:func:`two_stage_ct`): Algorithm 1 with the shipped models (stage 1
  ``models/segmentation``, refinement ``models/two_stage_ct``). The harness gives all clicks
  so far, oldest first; the segmenter keeps the session's last model-space answer
  (:class:`lib.two_stage.engine.SessionState`), so each click refines exactly that answer.
  If its state does not match (another case, or clicks that do not extend its own), it
  refines the harness's ``previous`` (resampled into model space), else stage 1's answer.
- ``two_stage_ct_stage1`` (:func:`two_stage_ct_stage1`): stage 1 alone, clicks ignored:
  the reference 2S-ICR's 0-click answer must equal.
- ``two_stage_ct_ensemble``: stage 1 = the UNet and DynUNet automatic models (k = 2, softmax
  averaged), refinement = the members of :data:`ENSEMBLE_MEMBERS` that exist (k = 1 shipped:
  the only other refinement nets trained, p = 0.2 and from scratch, validated worse than
  stage 1 alone). The paper's five members per stage come from 5-fold cross-validation.
- ``two_stage_petct``: the PET-CT stages (``models/two_stage_petct``), on ``--pet`` phantoms.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lib.evaluation.protocol import Case
from lib.interaction.clicks import Click
from lib.two_stage.engine import SessionState, TwoStageModel, next_answer
from lib.two_stage.preprocess import PreparedImage, prepare_array

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = REPO_ROOT / "models"
STAGE1_CT = MODELS / "segmentation" / "weights.pt"
STAGE1_CT_DYNUNET = MODELS / "segmentation_dynunet" / "weights.pt"
REFINEMENT_CT = MODELS / "two_stage_ct" / "weights.pt"
#: Refinement members of the CT ensemble (those that exist are used).
ENSEMBLE_MEMBERS = (REFINEMENT_CT,)
STAGE1_PETCT = MODELS / "two_stage_petct" / "stage1.pt"
REFINEMENT_PETCT = MODELS / "two_stage_petct" / "weights.pt"
#: The PET-CT ensemble's second members (another seed; the refinement trained on its own stage 1).
STAGE1_PETCT_SEED1 = MODELS / "two_stage_petct_seed1" / "stage1.pt"
REFINEMENT_PETCT_SEED1 = MODELS / "two_stage_petct_seed1" / "weights.pt"


class TwoStageSegmenter:
    """Algorithm 1 behind the harness's protocol.

    Args:
        model: the two stages.
        name: the method's name in reports.
        refine: False answers stage 1's y(0) whatever the clicks (the stage-1-alone reference).
    """

    def __init__(self, model: TwoStageModel, name: str = "two_stage_ct", refine: bool = True) -> None:
        self.model = model
        self.name = name
        self.refine = refine
        self._case: tuple[str, int] | None = None
        self._prepared: PreparedImage | None = None
        self._state: SessionState | None = None

    @classmethod
    def from_weights(
        cls, stage1: Sequence[str | Path], refinement: Sequence[str | Path], name: str, refine: bool = True,
        device: str = "cpu",
    ) -> TwoStageSegmenter:
        """A segmenter from weights files (lists: one file per ensemble member)."""
        return cls(TwoStageModel.from_weights(stage1, refinement, device), name, refine)

    def _prepare(self, case: Case) -> PreparedImage:
        key = (case.case_id, id(case.image))
        if self._case != key:
            self._case, self._state = key, None
            self._prepared = prepare_array(case.image, case.affine, self.model.image_channels)
        assert self._prepared is not None
        return self._prepared

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """(X, Y, Z) float32 probability after ``clicks`` on the case's grid (see the module doc)."""
        prepared = self._prepare(case)
        clicks = tuple(clicks) if self.refine else ()
        state = self._state
        own = state is not None and state.clicks == tuple(clicks[: len(state.clicks)])
        self._state = next_answer(
            self.model, prepared, clicks, state if own else None,
            None if own or previous is None or not clicks else previous,
        )
        return prepared.to_input_grid(self._state.answer.numpy())


def _existing(paths: Sequence[Path]) -> list[Path]:
    found = [p for p in paths if p.exists()]
    if not found:
        raise ValueError(f"none of the weights {[str(p) for p in paths]} exist; "
                         "train them with python -m lib.two_stage.train")
    return found


def two_stage_ct(weights: str | Path | None = None, device: str = "cpu") -> TwoStageSegmenter:
    """2S-ICR on CT: the shipped automatic model + the shipped (or given) refinement net."""
    return TwoStageSegmenter.from_weights([STAGE1_CT], [weights or REFINEMENT_CT], "two_stage_ct", device=device)


def two_stage_ct_whole_answer_box(device: str = "cpu") -> TwoStageSegmenter:
    """2S-ICR on CT with the refinement box around the WHOLE previous answer and the clicks (the
    rule before ``NEAR_CLICKS_MM``), to compare in the same run."""
    model = TwoStageModel.from_weights([STAGE1_CT], [REFINEMENT_CT], device, near_clicks_mm=None)
    return TwoStageSegmenter(model, "two_stage_ct_whole_answer_box")


def two_stage_ct_near_30(device: str = "cpu") -> TwoStageSegmenter:
    """2S-ICR on CT with the refinement box around the clicks and the previous answer within 30 mm of
    them (the served rule takes ``NEAR_CLICKS_MM``), to choose that distance in the same run."""
    model = TwoStageModel.from_weights([STAGE1_CT], [REFINEMENT_CT], device, near_clicks_mm=30.0)
    return TwoStageSegmenter(model, "two_stage_ct_near_30")


def two_stage_ct_stage1(device: str = "cpu") -> TwoStageSegmenter:
    """Stage 1 alone (clicks ignored): 2S-ICR's 0-click reference."""
    return TwoStageSegmenter.from_weights([STAGE1_CT], [], "two_stage_ct_stage1", refine=False, device=device)


def two_stage_ct_ensemble(device: str = "cpu") -> TwoStageSegmenter:
    """Ensemble: stage 1 UNet + DynUNet, refinement every existing member of ``ENSEMBLE_MEMBERS``."""
    return TwoStageSegmenter.from_weights(
        _existing([STAGE1_CT, STAGE1_CT_DYNUNET]), _existing(ENSEMBLE_MEMBERS), "two_stage_ct_ensemble", device=device
    )


def two_stage_petct(device: str = "cpu") -> TwoStageSegmenter:
    """2S-ICR on PET-CT (two image channels), for ``--pet`` phantoms."""
    return TwoStageSegmenter.from_weights([STAGE1_PETCT], [REFINEMENT_PETCT], "two_stage_petct", device=device)


def two_stage_petct_stage1(device: str = "cpu") -> TwoStageSegmenter:
    """The PET-CT stage 1 alone."""
    return TwoStageSegmenter.from_weights([STAGE1_PETCT], [], "two_stage_petct_stage1", refine=False,
                                          device=device)


def two_stage_petct_ensemble(device: str = "cpu") -> TwoStageSegmenter:
    """The PET-CT ensemble, k = 2 per stage: probabilities averaged, both refinement members given the same clicks."""
    return TwoStageSegmenter.from_weights([STAGE1_PETCT, STAGE1_PETCT_SEED1], [REFINEMENT_PETCT, REFINEMENT_PETCT_SEED1],
                                          "two_stage_petct_ensemble", device=device)


def with_weights(name: str, stage1: Sequence[str | Path], refinement: Sequence[str | Path]):
    """A factory for ``--methods`` of a named 2S-ICR with other weights (ablations)."""

    def factory(device: str = "cpu") -> TwoStageSegmenter:
        return TwoStageSegmenter.from_weights(stage1, refinement, name, device=device)

    return factory


#: Ablation: the refinement net trained with the paper's mask dropout p = 0.2 (the shipped
#: ``two_stage_ct`` was trained without: p = 0 validated better on this budget), same stage 1.
#: Its best checkpoint is its untrained start (the identity), so the ablation uses its LAST
#: weights, ``last.pt`` of ``python -m lib.two_stage.train --out build/two_stage_ct_p02 --residual``.
two_stage_ct_p02 = with_weights("two_stage_ct_p02", [STAGE1_CT], [MODELS / "two_stage_ct_p02" / "last.pt"])
#: Ablation: the refinement net trained from random weights (the paper's way), lr 1e-3, same budget.
two_stage_ct_scratch = with_weights("two_stage_ct_scratch", [STAGE1_CT],
                                    [MODELS / "two_stage_ct_scratch" / "weights.pt"])


#: Ablation: the PET-CT refinement net trained with the paper's mask dropout p = 0.2 (the shipped
#: ``two_stage_petct`` has p = 0, as the CT one), same stage 1, budget and seed.
two_stage_petct_p02 = with_weights("two_stage_petct_p02", [STAGE1_PETCT], [MODELS / "two_stage_petct_p02" / "weights.pt"])


__all__ = [
    "TwoStageSegmenter",
    "two_stage_ct",
    "two_stage_ct_ensemble",
    "two_stage_ct_p02",
    "two_stage_ct_scratch",
    "two_stage_ct_stage1",
    "two_stage_petct",
    "two_stage_petct_ensemble",
    "two_stage_petct_p02",
    "two_stage_petct_stage1",
    "with_weights",
]
