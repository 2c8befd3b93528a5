"""Base labels for evaluating slice-edit propagation: contours a user may start from.

The paper's setting is one base, the network's own prediction. In the product the user's
label comes from anywhere; each kind here makes one plausible wrong contour of a structure
from the truth, a click model or the network. Every function returns a (X, Y, Z) bool mask
of the structure on the image's grid.

- ``own``: the base network's prediction (the paper's setting);
- ``eroded`` / ``dilated``: the truth eroded / dilated by one voxel in every axial slice
  (a contouring bias: a margin drawn inside or outside the edge);
- ``shifted``: the truth shifted by :data:`SHIFT_MM` (rounded to whole voxels), a
  registration error carried over from an earlier session;
- ``click3``: a click model's answer after 3 simulated clicks (:func:`click_model_base`);
- ``own`` on a phantom family the network never trained on is the evaluation's
  ``--family`` option (e.g. MRI STIR: another contrast and another spacing).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

#: Shift of the ``shifted`` base, mm along (X, Y, Z) of the image grid.
SHIFT_MM: tuple[float, float, float] = (6.0, 3.0, 0.0)
#: Clicks the ``click3`` base's click model gets.
CLICKS = 3
#: Base kinds made from the truth alone.
TRUTH_KINDS: tuple[str, ...] = ("eroded", "dilated", "shifted")
BASE_KINDS: tuple[str, ...] = ("own", *TRUTH_KINDS, "click3")

_IN_PLANE = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool).transpose(1, 2, 0)  # (3, 3, 1): no Z neighbours


def eroded(truth: np.ndarray) -> np.ndarray:
    """(X, Y, Z) bool: ``truth`` eroded by one voxel (4-neighbourhood) within each axial slice."""
    return binary_erosion(truth, _IN_PLANE, border_value=0)


def dilated(truth: np.ndarray) -> np.ndarray:
    """(X, Y, Z) bool: ``truth`` dilated by one voxel (4-neighbourhood) within each axial slice."""
    return binary_dilation(truth, _IN_PLANE)


def shifted(truth: np.ndarray, spacing: Sequence[float], shift_mm: Sequence[float] = SHIFT_MM) -> np.ndarray:
    """(X, Y, Z) bool: ``truth`` moved by ``shift_mm`` (whole voxels; what leaves the grid is lost)."""
    steps = [int(round(m / s)) for m, s in zip(shift_mm, spacing)]
    out = np.zeros_like(truth, dtype=bool)
    source = tuple(slice(max(0, -d), n - max(0, d)) for d, n in zip(steps, truth.shape))
    target = tuple(slice(max(0, d), n - max(0, -d)) for d, n in zip(steps, truth.shape))
    out[target] = truth[source]
    return out


def click_model_base(segmenter, case, rng: np.random.Generator, clicks: int = CLICKS) -> np.ndarray:
    """(X, Y, Z) bool: an interactive segmenter's answer after ``clicks`` simulated clicks.

    Args:
        segmenter: a :class:`lib.evaluation.protocol.InteractiveSegmenter` (e.g. the 3D Gaussian-click model).
        case: the :class:`lib.evaluation.protocol.Case` (image and truth).
        rng: the clicks' only source of randomness.
        clicks: how many; each the Gaussian-click paper's simulated click on the current errors.
    """
    from lib.simulators import exp_chamfer_click

    done, previous = [], None
    for _ in range(clicks):
        current = np.zeros(case.spatial_shape, bool) if previous is None else previous > 0.5
        click = exp_chamfer_click(current, case.truth, rng)
        if click is None:
            break
        done.append(click)
        previous = segmenter.segment(case, done, previous)
    return np.zeros(case.spatial_shape, bool) if previous is None else previous > 0.5


def truth_base(kind: str, truth: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """The base of a :data:`TRUTH_KINDS` kind; ValueError for another."""
    if kind == "eroded":
        return eroded(truth)
    if kind == "dilated":
        return dilated(truth)
    if kind == "shifted":
        return shifted(truth, spacing)
    raise ValueError(f"not a truth-made base kind: {kind!r} (one of {TRUTH_KINDS})")


__all__ = ["BASE_KINDS", "CLICKS", "SHIFT_MM", "TRUTH_KINDS", "click_model_base", "dilated", "eroded", "shifted",
           "truth_base"]
