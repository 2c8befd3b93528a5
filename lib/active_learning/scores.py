"""Scores from the ensemble's uncertainty: one per image, one per slice along an axis.

Both read the ensemble's mean probabilities ``p`` (C, X, Y, Z) on the input grid against
a label ``L`` (X, Y, Z): the ensemble's own prediction, or the user's current label.

- Expected wrong voxels of structure c at voxel v: ``|p_c(v) - [L(v) = c]|``: the
  probability, by the ensemble's belief, that the voxel's membership of c in L is wrong.
  A slice's score is the sum over the slice: the expected number of voxels an edit there
  could fix (before propagation carries the edit to the neighbours).
- Slice suggestion (:func:`suggestion_scores`): a slice's expected wrong voxels plus how fast
  the label's cross-section changes across it (the flanks and ends of a structure along the
  axis), where a propagated edit gains most on validation phantoms.
- Image score: mean over structures of 1 - expected Dice, with expected Dice
  ``2 sum(p_c [L = c]) / (sum(p_c) + sum([L = c]))``: a soft Dice between belief and label,
  an estimate of the true Dice when ``p`` is calibrated. An alternative, member
  disagreement (1 - mean Dice of each member's label against the ensemble's), is computed
  alongside for the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Model classes scored: 1 GTV, 2 heart (0 is background).
STRUCTURES: tuple[int, ...] = (1, 2)


def check_structures(structures: Sequence[int], classes: int) -> tuple[int, ...]:
    """Structure values, each in 1..classes-1, at least one."""
    structures = tuple(int(s) for s in structures)
    if not structures or any(s < 1 or s >= classes for s in structures):
        raise ValueError(f"structures must be class values in 1..{classes - 1}, got {list(structures)}")
    return structures


def expected_errors(probabilities: np.ndarray, label: np.ndarray, structures: Sequence[int] = STRUCTURES) -> np.ndarray:
    """Expected wrong voxels of ``label``, summed over ``structures``.

    Args:
        probabilities: (C, X, Y, Z) mean class probabilities.
        label: (X, Y, Z) integer classes on the same grid.
        structures: class values to count.

    Returns:
        (X, Y, Z) float32, each voxel in [0, len(structures)].
    """
    probabilities, label = np.asarray(probabilities), np.asarray(label)
    if probabilities.ndim != 4 or probabilities.shape[1:] != label.shape:
        raise ValueError(f"probabilities {probabilities.shape} must be (C, *label shape {label.shape})")
    out = np.zeros(label.shape, np.float32)
    for c in check_structures(structures, probabilities.shape[0]):
        out += np.abs(probabilities[c] - (label == c))
    return out


def soft_dice(probability: np.ndarray, mask: np.ndarray) -> float:
    """2 sum(p m) / (sum(p) + sum(m)) of (X, Y, Z) probability and mask; 1.0 when both are empty."""
    p, m = np.asarray(probability, np.float64), np.asarray(mask, bool)
    total = p.sum() + m.sum()
    return 1.0 if total < 1e-6 else float(2.0 * p[m].sum() / total)


def expected_dice_error(probabilities: np.ndarray, label: np.ndarray, structures: Sequence[int] = STRUCTURES) -> float:
    """Image score: mean over ``structures`` of 1 - soft Dice between ``probabilities[c]`` and ``label == c``."""
    structures = check_structures(structures, probabilities.shape[0])
    return float(np.mean([1.0 - soft_dice(probabilities[c], label == c) for c in structures]))


def disagreement_error(member_labels: np.ndarray, label: np.ndarray, structures: Sequence[int] = STRUCTURES) -> float:
    """Mean over ``structures`` and members of 1 - Dice(member's mask, ``label``'s mask).

    Args:
        member_labels: (M, X, Y, Z) each member's classes.
        label: (X, Y, Z) the ensemble's classes.
    """
    values = []
    for c in structures:
        target = label == c
        for member in member_labels:
            values.append(1.0 - soft_dice((member == c).astype(np.float32), target))
    return float(np.mean(values))


def slice_scores(errors: np.ndarray, axis: int) -> np.ndarray:
    """(N,) float64: the sum of ``errors`` (X, Y, Z) over each slice along ``axis`` (0, 1 or 2)."""
    errors = np.asarray(errors)
    if errors.ndim != 3 or axis not in (0, 1, 2):
        raise ValueError(f"need a 3D volume and axis 0, 1 or 2, got shape {errors.shape} and axis {axis!r}")
    others = tuple(a for a in range(3) if a != axis)
    return errors.sum(axis=others, dtype=np.float64)


def superior_inferior_axis(affine: np.ndarray) -> int:
    """The voxel axis (0, 1, 2) most nearly along the patient's superior-inferior direction.

    Args:
        affine: (4, 4) voxel index -> RAS (or LPS: the S-I component is the same) mm.

    Returns:
        The axis whose direction has the largest absolute z (S-I) component, per unit length,
        so that LPS, RAS, permuted and oblique headers all give their slice-stacking axis.
    """
    directions = np.asarray(affine, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(directions, axis=0)
    if directions.shape != (3, 3) or np.any(norms == 0):
        raise ValueError(f"affine must be (4, 4) with non-zero columns, got {np.asarray(affine).shape}")
    return int(np.argmax(np.abs(directions[2]) / norms))


def rank_slices(scores: Sequence[float], exclude: Sequence[int] = (), top: int = 5) -> list[dict]:
    """The ``top`` slices by score, best first, leaving out ``exclude``; ties to the lower index.

    Returns:
        ``[{"index": i, "score": s}, ...]``; slices with score 0 are not suggested.
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    scores = np.asarray(scores, dtype=np.float64)
    excluded = {int(i) for i in exclude}
    order = sorted((i for i in range(len(scores)) if i not in excluded and scores[i] > 0), key=lambda i: (-scores[i], i))
    return [{"index": int(i), "score": float(scores[i])} for i in order[:top]]


def smoothed_slice_scores(errors: np.ndarray, axis: int, sigma: float) -> np.ndarray:
    """(N,) float64: :func:`slice_scores` of ``errors`` (X, Y, Z) along ``axis``, smoothed along
    the axis by a Gaussian of ``sigma`` slices (truncated at 3 sigma, zero beyond the volume).

    Slice-edit propagation spreads an edit to the neighbouring slices, so an edit helps most
    where the slice *and its neighbours* hold expected errors: a slice of the body of an uncertain
    region outranks a lone uncertain slice, and a slice at an end of the region (whose neighbours
    on one side hold nothing) ranks below the middle. ``sigma`` 0 gives :func:`slice_scores`.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 slices, got {sigma}")
    scores = slice_scores(errors, axis)
    if sigma == 0:
        return scores
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return np.convolve(np.pad(scores, radius), kernel / kernel.sum(), mode="valid")


#: Weight of the label's area change in :func:`suggestion_scores` (voxels of score per voxel of
#: area change): the best of 0.25-4 on 24 validation phantoms (``results/slice_suggestion_rules/``).
AREA_CHANGE_WEIGHT = 2.0


def area_change(label: np.ndarray, axis: int, structures: Sequence[int] = STRUCTURES) -> np.ndarray:
    """(N,) float64: ``|A(s + 1) - A(s - 1)| / 2`` summed over ``structures``, where ``A(s)`` is the
    number of voxels of the structure in ``label`` (X, Y, Z) on slice ``s`` along ``axis`` (one-sided
    differences at the volume's first and last slice; 0 for a one-slice volume)."""
    label = np.asarray(label)
    if not structures:
        raise ValueError("structures must name at least one class value")
    areas = [slice_scores((label == c).astype(np.float64), axis) for c in structures]
    if len(areas[0]) < 2:
        return np.zeros(len(areas[0]))
    return np.sum([np.abs(np.gradient(a)) for a in areas], axis=0)


def suggestion_scores(
    probabilities: np.ndarray,
    label: np.ndarray,
    axis: int,
    structures: Sequence[int] = STRUCTURES,
    area_weight: float = AREA_CHANGE_WEIGHT,
) -> np.ndarray:
    """(N,) float64 per-slice scores of the slice suggestion along ``axis``: the slice's expected
    wrong voxels (:func:`expected_errors`, summed over the slice) plus ``area_weight`` times the
    label's :func:`area_change` there, both in voxels.

    Slice-edit propagation carries an edit to the neighbouring slices; an edit on a slice where
    the structure's cross-section grows or shrinks fastest (its flanks and ends along the axis)
    tells the propagation where the structure starts and how its neighbours shrink or grow, and
    gained more on validation phantoms than the slice with the most expected wrong voxels
    (``results/slice_suggestion_rules/``). ``area_weight`` 0 gives the expected wrong voxels alone.

    Args:
        probabilities: (C, X, Y, Z) mean class probabilities.
        label: (X, Y, Z) the label to be edited (the user's or the model's), same grid.
        axis: slice axis 0, 1 or 2.
        structures: class values scored.
        area_weight: voxels of score per voxel of area change, >= 0.
    """
    if area_weight < 0:
        raise ValueError(f"area_weight must be >= 0, got {area_weight}")
    structures = check_structures(structures, np.asarray(probabilities).shape[0])
    scores = slice_scores(expected_errors(probabilities, label, structures), axis)
    return scores + area_weight * area_change(label, axis, structures) if area_weight else scores
