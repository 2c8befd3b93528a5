"""What the automatic model's belief says about each slice of a label: the slice ranker's inputs.

Per slice ``s`` along an axis, from the ensemble's mean probability ``p`` of one structure
(X, Y, Z) and the label ``L`` (X, Y, Z) being edited, on the same grid. Never the truth.
Every feature is scaled within the image (by its largest slice value) so that a ranker fit on
one image size and structure size reads another the same way:

- ``errors``: expected wrong voxels on the slice, ``sum |p - [L]|`` (``scores.expected_errors``);
- ``errors_near_1`` / ``errors_near_2``: the same, mean of the slices 1 (2) away on each side;
- ``area``: the label's area; ``belief``: the expected area ``sum p``;
- ``missing``: ``belief - area`` (positive: the model thinks the label misses some of it),
  ``missing_near_1`` the same on the neighbours;
- ``area_change``: ``|A(s + 1) - A(s - 1)| / 2`` (``scores.area_change``);
- ``boundary``: ``sum 4 p (1 - p)``, the doubt on the contour;
- ``false_positive`` / ``false_negative``: ``sum (1 - p) [L]`` and ``sum p [not L]``;
- ``centrality``: 1 in the middle of the label's extent along the axis, 0 at its ends,
  negative outside it; ``outside``: 1 on a slice where the label holds none of the structure.

Errors are scaled by the largest slice's expected wrong voxels (at least 1), areas by the
largest of the label's and the belief's slice areas (at least 1).
"""

from __future__ import annotations

import numpy as np

from lib.active_learning.scores import area_change, slice_scores

#: Feature names, in the column order of :func:`slice_features`.
FEATURES: tuple[str, ...] = (
    "errors", "errors_near_1", "errors_near_2", "area", "belief", "missing", "missing_near_1", "area_change",
    "boundary", "false_positive", "false_negative", "centrality", "outside",
)


def _neighbours(values: np.ndarray, distance: int) -> np.ndarray:
    """(N,) mean of ``values`` (N,) at ``distance`` slices before and after each slice (0 beyond the ends)."""
    padded = np.pad(values, distance)
    return (padded[: len(values)] + padded[2 * distance:]) / 2.0


def _centrality(inside: np.ndarray) -> np.ndarray:
    """(N,) 1 - |s - centre| / (half extent + 1) for the extent of the True slices of ``inside`` (N,); 0 if none."""
    idx = np.arange(len(inside))
    if not inside.any():
        return np.zeros(len(inside))
    first, last = idx[inside].min(), idx[inside].max()
    return np.clip(1.0 - np.abs(idx - (first + last) / 2.0) / ((last - first) / 2.0 + 1.0), -1.0, 1.0)


def slice_features(probability: np.ndarray, label: np.ndarray, axis: int, structure: int) -> np.ndarray:
    """(N, len(FEATURES)) float64, one row per slice along ``axis`` (module doc).

    Args:
        probability: (X, Y, Z) the ensemble's mean probability of ``structure``.
        label: (X, Y, Z) integer classes on the same grid.
        axis: slice axis 0, 1 or 2.
        structure: the class value of the structure in ``label``.
    """
    p = np.asarray(probability, np.float64)
    if p.shape != np.asarray(label).shape:
        raise ValueError(f"probability {p.shape} and label {np.asarray(label).shape} must have the same shape")
    mask = np.asarray(label) == structure
    errors = slice_scores(np.abs(p - mask), axis)
    area, belief = slice_scores(mask.astype(np.float64), axis), slice_scores(p, axis)
    missing = belief - area
    error_scale = max(float(errors.max(initial=0.0)), 1.0)
    area_scale = max(float(area.max(initial=0.0)), float(belief.max(initial=0.0)), 1.0)
    columns = {
        "errors": errors / error_scale,
        "errors_near_1": _neighbours(errors, 1) / error_scale,
        "errors_near_2": _neighbours(errors, 2) / error_scale,
        "area": area / area_scale,
        "belief": belief / area_scale,
        "missing": missing / area_scale,
        "missing_near_1": _neighbours(missing, 1) / area_scale,
        "area_change": area_change(mask.astype(np.uint8), axis, (1,)) / area_scale,
        "boundary": slice_scores(4.0 * p * (1.0 - p), axis) / error_scale,
        "false_positive": slice_scores((1.0 - p) * mask, axis) / error_scale,
        "false_negative": slice_scores(p * ~mask, axis) / error_scale,
        "centrality": _centrality(area > 0),
        "outside": (area == 0).astype(np.float64),
    }
    return np.stack([columns[name] for name in FEATURES], axis=1)
