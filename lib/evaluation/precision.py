"""A method evaluated with its networks in another number format: ``<name>@bfloat16`` in ``--methods``.

    python -m lib.evaluation --name precision_gaussian_click_3d --cases 10 --max-clicks 10 \
        --methods gaussian_click_3d,gaussian_click_3d@bfloat16,graph_cut

The wrapper runs each answer of the method with ``RADIOTHERAPY_PRECISION`` set (see
:mod:`lib.precision`: every network that carries no format of its own follows it) and gives
the answer under the name ``<name>@<format>``; both formats run in the same harness run, on the
same cases, each with its own clicks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from lib.evaluation.protocol import Case, InteractiveSegmenter
from lib.interaction.clicks import Click
from lib.precision import ENVIRONMENT, resolve


@contextmanager
def environment_precision(precision: str) -> Iterator[None]:
    """``RADIOTHERAPY_PRECISION`` set to ``precision`` inside the block, restored after."""
    before = os.environ.get(ENVIRONMENT)
    os.environ[ENVIRONMENT] = precision
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENVIRONMENT, None)
        else:
            os.environ[ENVIRONMENT] = before


class InPrecision:
    """``segmenter`` with its networks' forward passes in ``precision`` (``float32`` or ``bfloat16``)."""

    def __init__(self, segmenter: InteractiveSegmenter, precision: str) -> None:
        self.precision = resolve(precision)
        self.segmenter = segmenter
        self.name = f"{segmenter.name}@{precision}"

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        with environment_precision(self.precision):
            return self.segmenter.segment(case, clicks, previous)

    def __getattr__(self, name: str):
        return getattr(self.segmenter, name)  # the harness's optional hooks (reset, ceilings...)


def split_precision(name: str) -> tuple[str, str | None]:
    """``"din@bfloat16"`` -> ``("din", "bfloat16")``; a name without ``@`` -> ``(name, None)``."""
    base, _, precision = name.partition("@")
    return base, (precision or None)


__all__ = ["InPrecision", "environment_precision", "split_precision"]
