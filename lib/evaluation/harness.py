"""Simulated interactive sessions: clicks in, one row of metrics per click out.

A session on one case: the segmenter answers with no click (k = 0), then the simulated user
adds one click at a time (k = 1 .. max_clicks), chosen from the segmenter's CURRENT answer
(``pred > 0.5``) against the truth. As in the Gaussian-click paper, by default the FIRST click
is chosen against an all-zero prediction (``first_click="empty"``); ``first_click="prediction"``
chooses it against the automatic answer instead (2S-ICR). When the answer is perfect the user
stops: the remaining rows repeat the last answer with ``click`` None.

Two click modes for a run of several segmenters:

- ``"own"``: every segmenter gets clicks simulated against its own answers (the usual NoC
  protocol). Methods then see different clicks, even with a deterministic simulator
  (``din_evaluation``), because their answers differ. A random simulator gets a fresh
  generator seeded by (seed, case number) per segmenter, so each starts from the same stream.
- ``"shared"``: clicks are simulated once against a reference segmenter's answers and replayed
  to every other one: all methods see exactly the same clicks, but only the reference's
  clicks respond to its own errors.

:func:`evaluate` records which mode, simulator, reference and first-click rule it used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import numpy as np
from tqdm import tqdm

from lib.evaluation.protocol import Case, InteractiveSegmenter
from lib.evaluation.simulators import DETERMINISTIC, ClickSimulator, get_simulator
from lib.evaluation.summary import summarise
from lib.interaction.clicks import Click
from lib.metrics import all_metrics, voxels_changed

ClickMode = Literal["own", "shared"]
FirstClick = Literal["empty", "prediction"]
#: Next click for click number k (1-based) given the current mask, or None to stop.
NextClick = Callable[[int, np.ndarray], "Click | None"]


def _answer(segmenter: InteractiveSegmenter, case: Case, clicks: Sequence[Click], previous: np.ndarray | None):
    """The segmenter's probability after ``clicks``, checked, and the seconds it took."""
    start = time.perf_counter()
    probability = np.asarray(segmenter.segment(case, list(clicks), previous), dtype=np.float32)
    seconds = time.perf_counter() - start
    if probability.shape != case.spatial_shape:
        raise ValueError(
            f"{segmenter.name} returned shape {probability.shape} for case {case.case_id!r}, "
            f"expected the case's (X, Y, Z) shape {case.spatial_shape}"
        )
    return probability, seconds


def _row(case: Case, k: int, click: Click | None, clicks: Sequence[Click], mask: np.ndarray, changed, seconds) -> dict:
    """One per-click record: every metric of ``mask`` against the truth, and the click."""
    metrics = all_metrics(mask, case.truth, case.spacing)
    return {
        "case_id": case.case_id,
        "k": k,
        "click": None if click is None else {"index": list(click.index), "positive": click.positive},
        "foreground_clicks": sum(c.positive for c in clicks),
        "background_clicks": sum(not c.positive for c in clicks),
        "dsc": metrics["dice"],
        **metrics,
        "voxels_changed": changed,
        "seconds": seconds,
    }


def _session(segmenter: InteractiveSegmenter, case: Case, next_click: NextClick, max_clicks: int) -> list[dict]:
    """The loop both session kinds share; ``next_click`` decides each click."""
    if max_clicks < 0:
        raise ValueError(f"max_clicks must be >= 0, got {max_clicks}")
    clicks: list[Click] = []
    probability, seconds = _answer(segmenter, case, clicks, None)
    mask = probability > 0.5
    rows = [_row(case, 0, None, clicks, mask, None, seconds)]
    stopped = False
    for k in range(1, max_clicks + 1):
        click = None if stopped else next_click(k, mask)
        if click is None:  # the user is done: the answer stays as it is
            stopped = True
            rows.append({**rows[-1], "k": k, "click": None, "voxels_changed": 0, "seconds": 0.0})
            continue
        clicks.append(click)
        probability, seconds = _answer(segmenter, case, clicks, probability)
        new_mask = probability > 0.5
        rows.append(_row(case, k, click, clicks, new_mask, voxels_changed(mask, new_mask), seconds))
        mask = new_mask
    return rows


def run_session(
    segmenter: InteractiveSegmenter,
    case: Case,
    simulator: ClickSimulator,
    max_clicks: int,
    rng: np.random.Generator,
    first_click: FirstClick = "empty",
) -> list[dict]:
    """One simulated session, the clicks chosen from the segmenter's own answers.

    Args:
        segmenter: the method.
        case: the case (its truth drives the simulated user only).
        simulator: ``simulator(pred, truth, rng, spacing) -> Click | None``
            (see :mod:`lib.evaluation.simulators`).
        max_clicks: clicks after the automatic answer.
        rng: generator handed to the simulator.
        first_click: ``"empty"`` to choose click 1 against an all-zero prediction,
            ``"prediction"`` to choose it against the zero-click answer.

    Returns:
        ``max_clicks + 1`` rows, k = 0 .. max_clicks: ``case_id``, ``k``, ``click``
        (``{"index": [i, j, k], "positive": bool}`` or None), ``foreground_clicks``,
        ``background_clicks``, ``dsc``, every key of :func:`lib.metrics.all_metrics` (of
        ``pred > 0.5`` against the truth, with the case spacing), ``voxels_changed`` (vs the
        previous answer; None at k = 0) and ``seconds`` (the segmenter's time for that answer).
    """
    if first_click not in ("empty", "prediction"):
        raise ValueError(f"first_click must be 'empty' or 'prediction', got {first_click!r}")
    empty = np.zeros(case.spatial_shape, dtype=bool)

    def next_click(k: int, mask: np.ndarray) -> Click | None:
        current = empty if (k == 1 and first_click == "empty") else mask
        return simulator(current, case.truth, rng, case.spacing)

    return _session(segmenter, case, next_click, max_clicks)


def replay_session(
    segmenter: InteractiveSegmenter, case: Case, clicks: Sequence[Click], max_clicks: int
) -> list[dict]:
    """A session with the clicks given in advance (the "shared" mode).

    Args:
        segmenter: the method.
        case: the case.
        clicks: click 1, 2, ... as another session chose them; fewer than ``max_clicks`` means
            that session's user stopped (its answer was perfect), and so does this one.
        max_clicks: rows k = 0 .. max_clicks are returned, as :func:`run_session`'s.
    """
    clicks = list(clicks)
    return _session(segmenter, case, lambda k, mask: clicks[k - 1] if k <= len(clicks) else None, max_clicks)


def clicks_of(rows: Iterable[dict]) -> list[Click]:
    """The clicks a session made, in order, from its rows."""
    return [Click(tuple(r["click"]["index"]), bool(r["click"]["positive"])) for r in rows if r["click"] is not None]


def case_rng(seed: int, case_number: int) -> np.random.Generator:
    """The generator of case ``case_number`` of a run with ``seed``; equal for every segmenter."""
    return np.random.default_rng([seed, case_number])


def evaluate(
    segmenters: Sequence[InteractiveSegmenter],
    cases: Iterable[Case],
    simulator_name: str,
    max_clicks: int,
    seed: int,
    click_mode: ClickMode = "own",
    reference: str | None = None,
    first_click: FirstClick = "empty",
    progress: bool = False,
    total_cases: int | None = None,
) -> dict:
    """Every segmenter on every case, and the summaries.

    Args:
        segmenters: the methods, names unique.
        cases: the cases (may be a lazy iterator; each is used once by all segmenters, then dropped).
        simulator_name: a key of :data:`lib.evaluation.simulators.SIMULATORS`.
        max_clicks: clicks after the automatic answer (20 in DIN's and the Gaussian-click paper).
        seed: seeds the simulator's generator per case (:func:`case_rng`).
        click_mode: ``"own"`` or ``"shared"`` (see the module docstring).
        reference: in ``"shared"`` mode, the name of the segmenter whose answers choose the clicks;
            None takes the first one.
        first_click: ``"empty"`` or ``"prediction"`` (see :func:`run_session`).
        progress: show a tqdm bar over (case, segmenter) sessions.
        total_cases: the number of cases, for the bar when ``cases`` is an iterator.

    Returns:
        ``{"simulator", "deterministic_simulator", "click_mode", "reference", "first_click",
        "max_clicks", "seed", "cases": [case ids], "methods": {name: summary}}`` where each
        summary holds :func:`lib.evaluation.summary.summarise`'s keys (``dsc_at_clicks``
        {"0": .., "1": .., ...}, ``noc`` {"0.80", "0.85", "0.90"}, ``noc_failed``,
        ``worse_click_fraction``, ...) and ``rows``: every per-case, per-click row.
    """
    names = [s.name for s in segmenters]
    if not segmenters or len(set(names)) != len(names):
        raise ValueError(f"segmenters must be one or more with unique names, got {names}")
    if click_mode not in ("own", "shared"):
        raise ValueError(f"click_mode must be 'own' or 'shared', got {click_mode!r}")
    if click_mode == "shared":
        reference = reference or names[0]
        if reference not in names:
            raise ValueError(f"reference {reference!r} is not one of the segmenters {names}")
        segmenters = sorted(segmenters, key=lambda s: s.name != reference)  # reference first
    else:
        reference = None
    simulator = get_simulator(simulator_name)
    rows: dict[str, list[dict]] = {name: [] for name in names}
    case_ids: list[str] = []
    total = None if total_cases is None else total_cases * len(segmenters)
    with tqdm(total=total, desc="sessions", unit="session", disable=not progress) as bar:
        for number, case in enumerate(cases):
            case_ids.append(case.case_id)
            shared: list[Click] | None = None
            for segmenter in segmenters:
                bar.set_postfix_str(f"{case.case_id} {segmenter.name}")
                if shared is None:
                    session = run_session(
                        segmenter, case, simulator, max_clicks, case_rng(seed, number), first_click
                    )
                    if click_mode == "shared":
                        shared = clicks_of(session)
                else:
                    session = replay_session(segmenter, case, shared, max_clicks)
                rows[segmenter.name].extend({**r, "method": segmenter.name} for r in session)
                bar.update(1)
    return {
        "simulator": simulator_name,
        "deterministic_simulator": simulator_name in DETERMINISTIC,
        "click_mode": click_mode,
        "reference": reference,
        "first_click": first_click,
        "max_clicks": max_clicks,
        "seed": seed,
        "cases": case_ids,
        "methods": {name: {**summarise(rows[name], max_clicks), "rows": rows[name]} for name in names},
    }
