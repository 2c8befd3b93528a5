"""The simulated users the harness can run, behind one signature.

Each entry of :data:`SIMULATORS` is called as ``simulator(pred, truth, rng, spacing)`` with
(X, Y, Z) bool masks, the run's numpy Generator and the spacing in mm (X, Y, Z), and returns
the next :class:`lib.interaction.clicks.Click`, or None when the prediction is already perfect.
The simulators themselves live in :mod:`lib.simulators`; this file only adapts their arguments.

- ``din_evaluation`` (DIN): the centre of the largest error region. Deterministic given
  (truth, prediction); ignores ``rng``.
- ``border_distance`` (DeepGrow / 2S-ICR): drawn in proportion to depth inside the errors.
- ``gaussian_click`` (Gaussian-click paper): drawn in proportion to exp(chamfer depth) - 1
  inside the larger kind of error (3D chamfer distances).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from lib.interaction.clicks import Click
from lib.simulators import border_distance_click, exp_chamfer_click, largest_error_region_click


class ClickSimulator(Protocol):
    """A simulated user: the next click from the current prediction and the truth.

    Args:
        pred: (X, Y, Z) bool current prediction (all False before the first answer).
        truth: (X, Y, Z) bool truth.
        rng: the run's generator, the only source of randomness.
        spacing: voxel size in mm along (X, Y, Z).

    Returns:
        The next click, or None when ``pred`` equals ``truth``.
    """

    def __call__(
        self, pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator, spacing: Sequence[float]
    ) -> Click | None: ...


def din_evaluation(
    pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator, spacing: Sequence[float]
) -> Click | None:
    """:func:`lib.simulators.largest_error_region_click` (``rng`` unused)."""
    return largest_error_region_click(pred, truth, spacing)


def border_distance(
    pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator, spacing: Sequence[float]
) -> Click | None:
    """:func:`lib.simulators.border_distance_click`, depths in mm."""
    return border_distance_click(pred, truth, rng, spacing)


def gaussian_click(
    pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator, spacing: Sequence[float]
) -> Click | None:
    """:func:`lib.simulators.exp_chamfer_click`, 3D chessboard depths in voxels (``spacing`` unused)."""
    return exp_chamfer_click(pred, truth, rng)


#: Simulator name -> simulator.
SIMULATORS: dict[str, ClickSimulator] = {
    "din_evaluation": din_evaluation,
    "border_distance": border_distance,
    "gaussian_click": gaussian_click,
}
#: Simulators whose click depends only on (truth, prediction), not on the generator.
DETERMINISTIC = frozenset({"din_evaluation"})


def get_simulator(name: str) -> ClickSimulator:
    """The simulator called ``name``; raise ValueError listing the known ones otherwise."""
    if name not in SIMULATORS:
        raise ValueError(f"unknown simulator {name!r}; known: {', '.join(sorted(SIMULATORS))}")
    return SIMULATORS[name]
