"""Validation of a DIN model: the evaluation harness itself, on validation phantoms.

Each validation case is one phantom's GTV cropped to its ROI (30 mm margin), the clicks come
from DIN's evaluation user (:func:`lib.simulators.largest_error_region_click`, deterministic),
and the score that picks the best checkpoint is the mean DSC after 1 .. ``max_clicks`` clicks.
Same cases and same user at every validation, so checkpoints are compared fairly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lib.din.guides import GuideSettings
from lib.din.segmenter import DinHarnessSegmenter
from lib.evaluation.cases import DEFAULT_MARGIN_MM, phantom_cases
from lib.evaluation.harness import case_rng, run_session
from lib.evaluation.protocol import Case
from lib.evaluation.simulators import get_simulator
from lib.evaluation.summary import summarise

#: Clicks per validation session.
VALIDATION_CLICKS = 5


def validation_cases(
    count: int, first_seed: int, margin_mm: float | None = DEFAULT_MARGIN_MM, modality: str = "ct"
) -> list[Case]:
    """The GTV cases of phantoms ``first_seed .. first_seed + count - 1`` (CT or STIR, ROI-cropped)."""
    return list(phantom_cases(count, first_seed, "gtv", margin_mm, modality))


def validate(
    network: torch.nn.Module,
    cases: Sequence[Case],
    settings: GuideSettings,
    max_clicks: int = VALIDATION_CLICKS,
    device: str = "cpu",
    modality: str = "ct",
) -> dict:
    """DSC after 0 .. ``max_clicks`` clicks, averaged over ``cases``, and the checkpoint score.

    Returns:
        ``{"dsc_at_clicks": {"0": .., "1": .., ...}, "noc": {...}, "score": mean DSC at 1..max_clicks,
        "cases": n}``.
    """
    segmenter = DinHarnessSegmenter(network=network, settings=settings, name="din_val", device=device,
                                    modality=modality)
    simulator = get_simulator("din_evaluation")
    rows: list[dict] = []
    training = network.training
    for number, case in enumerate(cases):
        rows.extend(run_session(segmenter, case, simulator, max_clicks, case_rng(0, number)))
    network.train(training)
    summary = summarise(rows, max_clicks)
    dsc = {str(k): float(v) for k, v in summary["dsc_at_clicks"].items()}
    score = float(np.mean([dsc[str(k)] for k in range(1, max_clicks + 1)])) if max_clicks else dsc["0"]
    return {"dsc_at_clicks": dsc, "noc": summary["noc"], "score": score, "cases": len(cases)}


__all__ = ["VALIDATION_CLICKS", "validate", "validation_cases"]
