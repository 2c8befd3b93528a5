"""DIN's training-time click sampler: many clicks at once, drawn around the true object.

Paper: ``papers/din_deep-interactive-networks-expdt.txt``, section III-C and IV (after Xu et
al.'s DIOS). Z (axis 2) is the slice axis; "in-plane" means within one Z slice, along X and Y.

- Positives inside the object, their number uniform in 1..N3D.
- Negatives in the band of in-plane width w around the object (Eq. 5, distance < w),
  their number uniform in 0..N3D, drawn at random or spread evenly (farthest-point).
  The paper draws Xu's "random" negatives from the whole background; here both kinds
  come from the band, so every negative is near the object.
- N3D = round(N^(3/2)), N = 5, so 11.
- No click closer than d_margin = 3 px (in-plane) to the object boundary, except
  positives in objects under 6 px in X or Y ("to preserve small tumours").
- At least (dx, dy, dz) = (10, 10, 1) px between any two clicks. The paper writes
  (dz, dy, dx) = (1, 10, 10); read as an exclusion box: two clicks conflict when they are
  closer than that along EVERY axis, so clicks on different slices never conflict
  (dz = 1) and clicks on one slice are 10 px apart in X or in Y. The literal "in each
  dimension" (apart along every axis) cannot fit 11 clicks in a tumour.

Counts are upper bounds: when no place is left that keeps the spacing, fewer clicks
come back. Randomness comes only from the generator passed in, drawn in a fixed order
(counts, negative mode, positives, negatives), so a seed replays the same clicks.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from collections.abc import Sequence
from dataclasses import dataclass

import cc3d
import numpy as np
from scipy.ndimage import distance_transform_edt, find_objects

from lib.checks import as_mask
from lib.interaction.clicks import Click
from lib.simulators._checks import as_generator

NEGATIVE_MODES = ("random", "spread", "either")


def clicks_upper_bound(n: int) -> int:
    """N3D = round(n ** 1.5): DIN's 3D upper bound on clicks of one sign (11 for n = 5)."""
    return round(n**1.5)


def inplane_distance(mask: np.ndarray) -> np.ndarray:
    """In-plane Euclidean distance (px) of every voxel to the nearest ``mask`` voxel of its Z slice.

    Args:
        mask: (X, Y, Z) bool.

    Returns:
        (X, Y, Z) float64: 0 on the mask, inf in slices where the mask is empty.
    """
    distance = np.full(mask.shape, np.inf)
    for k in range(mask.shape[2]):
        if mask[:, :, k].any():
            distance[:, :, k] = distance_transform_edt(~mask[:, :, k])
    return distance


def small_objects(truth: np.ndarray, small_object: int) -> np.ndarray:
    """The objects (26-connected components) under ``small_object`` px along X or along Y.

    Args:
        truth: (X, Y, Z) bool.
        small_object: size in px; objects whose X or Y extent is smaller are "small".

    Returns:
        (X, Y, Z) bool, the voxels of the small objects.
    """
    labels = cc3d.connected_components(truth, connectivity=26)
    small = np.zeros(truth.shape, dtype=bool)
    for label, box in enumerate(find_objects(labels), start=1):
        if box is not None and min(box[0].stop - box[0].start, box[1].stop - box[1].start) < small_object:
            small[box] |= labels[box] == label
    return small


def separation(points: np.ndarray, point: np.ndarray, min_separation: np.ndarray) -> np.ndarray:
    """max over axes of |points - point| / min_separation: >= 1 means far enough apart.

    Args:
        points: (n, 3) voxel indices (X, Y, Z).
        point: (3,) voxel index.
        min_separation: (3,) px per axis.

    Returns:
        (n,) float64 normalised Chebyshev distance.
    """
    return (np.abs(points - point) / min_separation).max(axis=1)


def _draw(
    candidates: np.ndarray,
    count: int,
    taken: list[np.ndarray],
    min_separation: np.ndarray,
    spread: bool,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Up to ``count`` candidates, each far enough from ``taken`` and from each other.

    Random mode draws uniformly among the allowed candidates; spread mode draws among the
    candidates farthest from every click so far (farthest-point sampling, ties at random).
    """
    gap = np.full(len(candidates), np.inf)
    for point in taken:
        gap = np.minimum(gap, separation(candidates, point, min_separation))
    picked: list[np.ndarray] = []
    for _ in range(count):
        allowed = gap >= 1.0
        if not allowed.any():
            break
        pool = np.flatnonzero(gap == gap.max()) if spread else np.flatnonzero(allowed)
        point = candidates[rng.choice(pool)]
        picked.append(point)
        gap = np.minimum(gap, separation(candidates, point, min_separation))
    return picked


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_params(
    n: int, band_width: float, margin: float, small_object: int, min_separation: Sequence[float], negatives: str
) -> np.ndarray:
    """Raise ValueError naming the first bad parameter; return min_separation as an array."""
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if not (_is_number(margin) and margin >= 0):
        raise ValueError(f"margin must be a number >= 0 (px), got {margin!r}")
    if not (_is_number(band_width) and band_width > margin):
        raise ValueError(f"band_width must be a number > margin ({margin}) (px), got {band_width!r}")
    if isinstance(small_object, bool) or not isinstance(small_object, Integral) or small_object < 0:
        raise ValueError(f"small_object must be an integer >= 0 (px), got {small_object!r}")
    try:
        sep = np.asarray(min_separation, dtype=float)
    except (TypeError, ValueError):
        sep = np.array([])
    if sep.shape != (3,) or not (np.isfinite(sep).all() and (sep > 0).all()):
        raise ValueError(f"min_separation must be three numbers > 0 (px, X Y Z order), got {min_separation!r}")
    if negatives not in NEGATIVE_MODES:
        raise ValueError(f"negatives must be one of {NEGATIVE_MODES}, got {negatives!r}")
    return sep


def din_training_clicks(
    truth: np.ndarray,
    rng: np.random.Generator,
    n: int = 5,
    band_width: float = 40.0,
    margin: float = 3.0,
    small_object: int = 6,
    min_separation: Sequence[float] = (10, 10, 1),
    negatives: str = "either",
) -> list[Click]:
    """Simulated clicks for one DIN training sample.

    Args:
        truth: (X, Y, Z) bool or {0, 1} ground truth; Z is the slice axis.
        rng: the caller's generator; the only source of randomness (replayable).
        n: DIOS's 2D click bound N; at most N3D = round(n ** 1.5) clicks of each sign.
        band_width: w, px in-plane: negatives lie closer than this to the object.
        margin: d_margin, px in-plane: clicks are at least this far from the boundary
            (distance from the click's voxel to the nearest voxel across the boundary).
        small_object: px; positives in objects whose X or Y extent is below this ignore
            ``margin``. An object too thin to keep any voxel ``margin`` deep also does.
        min_separation: (dx, dy, dz) px; two clicks closer than this along every axis conflict.
        negatives: ``"random"`` (uniform in the band), ``"spread"`` (farthest-point in the
            band) or ``"either"`` (one of the two by a fair coin per call).

    Returns:
        Positive clicks first, then negative ones; [] when ``truth`` is empty.

    Raises:
        ValueError: a bad mask, rng or parameter, named in the message.
    """
    truth = as_mask(truth, "truth")
    rng = as_generator(rng)
    sep = _check_params(n, band_width, margin, small_object, min_separation, negatives)
    if not truth.any():
        return []
    bound = clicks_upper_bound(n)
    n_positive = int(rng.integers(1, bound, endpoint=True))
    n_negative = int(rng.integers(0, bound, endpoint=True))
    spread = negatives == "spread" or (negatives == "either" and bool(rng.random() < 0.5))

    depth = inplane_distance(~truth)  # inside the object: distance to the background
    inside = truth & ((depth >= margin) | small_objects(truth, small_object))
    if not inside.any():
        inside = truth
    gap = inplane_distance(truth)  # outside the object: distance to it
    band = ~truth & (gap >= margin) & (gap < band_width)

    foreground = _draw(np.argwhere(inside), n_positive, [], sep, False, rng)
    background = _draw(np.argwhere(band), n_negative, foreground, sep, spread, rng)
    return [Click(_index(p), True) for p in foreground] + [Click(_index(p), False) for p in background]


def _index(point: np.ndarray) -> tuple[int, int, int]:
    return int(point[0]), int(point[1]), int(point[2])


@dataclass(frozen=True)
class DinTrainingSampler:
    """:func:`din_training_clicks` with its parameters fixed: ``sampler(truth, rng)``.

    Attributes mirror the function's keyword arguments; defaults are the paper's.
    """

    n: int = 5
    band_width: float = 40.0
    margin: float = 3.0
    small_object: int = 6
    min_separation: tuple[float, float, float] = (10, 10, 1)
    negatives: str = "either"

    def __post_init__(self) -> None:
        _check_params(self.n, self.band_width, self.margin, self.small_object, self.min_separation, self.negatives)

    def __call__(self, truth: np.ndarray, rng: np.random.Generator) -> list[Click]:
        """See :func:`din_training_clicks`."""
        return din_training_clicks(
            truth, rng, self.n, self.band_width, self.margin, self.small_object, self.min_separation, self.negatives
        )
