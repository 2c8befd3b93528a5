"""Which image to annotate next: uncertainty, random and first, from stored scores.

Pure functions over image ids: the MONAI Label strategies (``strategies/``) and the simulated
campaign (``lib.active_learning.campaign``) call the same ones. Images "busy" (served to
another client within the last minutes, see :func:`busy_images`) are never chosen, so two
annotators never get the same image at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: An image served to a client is kept from other clients for this long (seconds).
BUSY_SECONDS = 15 * 60


@dataclass(frozen=True)
class Choice:
    """A strategy's answer.

    Attributes:
        image: the chosen image id.
        reason: why, in words (said in the answer to the client).
        score: the image's score, where the strategy used one.
        weight: the random strategy's weight of the chosen image.
    """

    image: str
    reason: str
    score: float | None = None
    weight: float | None = None


def busy_images(served: Mapping[str, tuple[float, str | None]], now: float, client: str | None,
                busy_seconds: float = BUSY_SECONDS) -> set[str]:
    """Images served to a client other than ``client`` less than ``busy_seconds`` before ``now``.

    Args:
        served: image id -> (unix time it was last served, client id or None).
        now: unix time, s.
        client: the asking client's id; ``None`` is a client of its own (every image served
            recently to anyone is busy for it, unless served to ``None`` as well).
    """
    return {image for image, (ts, who) in served.items() if now - ts < busy_seconds and who != client}


def _available(candidates: Sequence[str], busy: set[str]) -> list[str]:
    return sorted(c for c in candidates if c not in busy)


def choose_first(candidates: Sequence[str], busy: set[str] = frozenset()) -> Choice | None:
    """The first free image id in sorted order; ``None`` when none is free."""
    free = _available(candidates, busy)
    return Choice(free[0], "first unlabelled image by id") if free else None


def choose_random(candidates: Sequence[str], rng: np.random.Generator, busy: set[str] = frozenset(),
                  served: Mapping[str, tuple[float, str | None]] | None = None, now: float = 0.0) -> Choice | None:
    """A free image at random, weighted by seconds since it was last served (+ 1 s; never served: 1 day).

    MONAI Label 0.8.5's ``Random`` weights the same way but reports the first image's weight,
    not the chosen one's, and fails when every weight is 0 (all served this second); here the
    weights are never 0 and the chosen image's weight is returned.
    """
    free = _available(candidates, busy)
    if not free:
        return None
    served = served or {}
    day = 24 * 3600.0
    weights = np.array([min(day, max(0.0, now - served[c][0])) + 1.0 if c in served else day + 1.0 for c in free])
    n = int(rng.choice(len(free), p=weights / weights.sum()))
    return Choice(free[n], "random, weighted by time since last served", weight=float(weights[n]))


def choose_uncertain(candidates: Sequence[str], scores: Mapping[str, float | None], rng: np.random.Generator,
                     busy: set[str] = frozenset()) -> Choice | None:
    """The free image with the highest current score; ties to the lower id.

    Args:
        candidates: unlabelled image ids.
        scores: image id -> current score (``None`` or missing: no score from the current model).
        rng: for the fallback when no free image has a score.
        busy: ids to skip.

    Returns:
        The choice, its reason saying whether it came from a score or from the random
        fallback (and how many free images are unscored); ``None`` when no image is free.
    """
    free = _available(candidates, busy)
    if not free:
        return None
    scored = [c for c in free if scores.get(c) is not None]
    unscored = len(free) - len(scored)
    if not scored:
        pick = free[int(rng.integers(len(free)))]
        return Choice(pick, f"random: none of the {len(free)} free images has a current uncertainty score yet")
    best = min(scored, key=lambda c: (-float(scores[c]), c))
    note = f"; {unscored} free image(s) not scored yet" if unscored else ""
    return Choice(best, f"highest uncertainty score of {len(scored)} scored free image(s){note}", score=float(scores[best]))
