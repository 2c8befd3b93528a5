"""Local correction: a click corrects the answer near itself and leaves the rest as it was.

The 3D network answers a whole region around all the clicks from scratch at every click, and
an answer the user had already accepted can change far from the newest click (a background
click in one corner re-growing the tumour elsewhere, a foreground click on the rim flooding
the neighbourhood). As in FocalClick's progressive merge (Chen et al., CVPR 2022), the new
answer is taken only where the correcting click asks for it:

1. Clicks are hard constraints: a clicked voxel has its click's label.
2. No previous foreground (the first foreground click): the network's answer is taken whole.
3. Otherwise, each *correction click* (a click the previous answer contradicts: a foreground
   click outside it or a background click inside it; in a session, the newest click) changes
   only the voxels that

   - the network flips the way the click asks (a foreground click only adds, a background
     click only removes), and confidently: a foreground click adds only where the network's
     probability is above ``0.5 + confidence``, a background click removes only where it is
     below ``0.5 - confidence`` (where the network hesitates the user's accepted answer stands),
   - lie within ``depth + margin_mm`` of the click, ``depth`` being its distance to the
     previous answer's contour (a click deep inside a large error may correct a large
     region, one on the rim only the rim; at most ``MAX_DEPTH_MM`` is counted),
   - lie within ``depth + shell_mm`` of the previous contour (on the click's side of it; the
     default shell is 0): a background click on the rim peels the rim and cannot hollow out
     the core, a foreground click just outside grows the contour by its own depth,
   - are nearer to it than to any click of the other kind (what an earlier click said
     about its own neighbourhood stands),
   - and form, 26-connected, the region holding the click.

   Everything else keeps the previous answer. The corrections of several clicks are
   disjoint adds and removes, so their order does not matter (a server request lists
   foreground clicks before background ones, not in the order they were made).
4. Only connected components (26-connected) holding a foreground click are kept: a blob the
   user never pointed at is not the clicked structure.

All arrays are (X, Y, Z) on one grid; distances in mm from the grid's spacing (X, Y, Z).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from lib.imaging.boxes import Box, around_points, full_box, mask_box, union_box, within
from lib.interaction.clicks import Click

#: Added to a correction click's depth to give the radius it may change, mm. Chosen on validation
#: phantoms (seeds 800-809, 15 clicks): 4, 8, 12, 16 mm gave DSC@15 0.806, 0.826, 0.832, 0.849 and
#: largest mean drop 0.004, 0.003, 0.002, 0.004; 12 falls least.
CORRECTION_MARGIN_MM = 12.0
#: A correction click changes only voxels at most (its depth + this) from the previous contour, mm:
#: a click on the rim peels or grows the rim, not the core. Chosen on the same validation phantoms
#: (12 mm margin): without the confidence rule below, no shell / 0 / 3 / 6 mm gave DSC@15
#: 0.832 / 0.855 / 0.857 / 0.851, mean-DSC drops 2 / 0 / 0 / 4 of 14; with it, 0 / 1.5 / 3 mm gave
#: 0.871 / 0.828 / 0.872, drops 0 / 2 / 0, worse single clicks 5 / 11 / 9 %: 0 mm (a click changes
#: no voxel deeper than itself) hurts fewest clicks.
CORRECTION_SHELL_MM: float | None = 0.0
#: How sure the network must be to overrule the previous answer (see the module doc). Chosen on the
#: same validation phantoms (12 mm margin, 3 mm shell): 0 / 0.2 / 0.35 / 0.45 gave DSC@15
#: 0.857 / 0.862 / 0.872 / 0.857, worse single clicks 19 / 15 / 9 / 5 %; none let the mean fall.
CORRECTION_CONFIDENCE = 0.35
#: Largest click depth counted, mm: bounds the radius (and the work on whole images).
MAX_DEPTH_MM = 32.0
#: 26-connectivity.
_FULL = np.ones((3, 3, 3), dtype=bool)


def apply_click_labels(probability: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
    """A copy of (X, Y, Z) ``probability`` with 1 at foreground clicks and 0 at background ones."""
    out = np.array(probability, dtype=np.float32, copy=True)
    for click in clicks:
        out[click.index] = 1.0 if click.positive else 0.0
    return out


def correction_clicks(previous: np.ndarray, clicks: Sequence[Click]) -> list[Click]:
    """The clicks the (X, Y, Z) bool ``previous`` answer contradicts, in the given order."""
    return [c for c in clicks if c.positive != bool(previous[c.index])]


def _box(centre: Sequence[int], radius_mm: float, spacing: Sequence[float], shape: Sequence[int]):
    """Slices of the box of ``radius_mm`` around ``centre``, clipped to ``shape``."""
    return tuple(
        slice(max(0, c - int(np.ceil(radius_mm / s))), min(n, c + int(np.ceil(radius_mm / s)) + 1))
        for c, s, n in zip(centre, spacing, shape)
    )


def _distance_mm(box: tuple[slice, ...], point: Sequence[int], spacing: Sequence[float]) -> np.ndarray:
    """Distance in mm from every voxel of ``box`` to the voxel ``point``, shaped as the box."""
    axes = [(np.arange(b.start, b.stop) - p) * s for b, p, s in zip(box, point, spacing)]
    return np.sqrt(axes[0][:, None, None] ** 2 + axes[1][None, :, None] ** 2 + axes[2][None, None, :] ** 2)


def click_depth_mm(
    previous: np.ndarray, click: Click, spacing: Sequence[float], max_depth_mm: float = MAX_DEPTH_MM
) -> float:
    """How far (mm) ``click`` lies inside the error it marks: its distance to the nearest voxel
    of ``previous`` (bool (X, Y, Z)) that already has the click's label; ``max_depth_mm`` if
    none is that near."""
    box = _box(click.index, max_depth_mm, spacing, previous.shape)
    agree = previous[box] if click.positive else ~previous[box]
    if not agree.any():
        return float(max_depth_mm)
    return float(min(_distance_mm(box, click.index, spacing)[agree].min(), max_depth_mm))


def contour_distance_mm(previous_box: np.ndarray, positive: bool, spacing: Sequence[float]) -> np.ndarray:
    """Distance (mm) of each voxel of a box of the (X, Y, Z) bool previous answer to the nearest
    voxel already labelled as a ``positive`` (foreground) click asks: outside the answer for a
    foreground click, inside it for a background one; 0 on such voxels. Only the box is seen,
    so a voxel whose nearest such voxel lies outside the box gets a larger distance (inf if
    the box holds none)."""
    agree = previous_box if positive else ~previous_box
    if not agree.any():
        return np.full(previous_box.shape, np.inf)
    return ndimage.distance_transform_edt(~agree, sampling=tuple(float(s) for s in spacing))


def correction_region(
    previous: np.ndarray,
    answer: np.ndarray,
    click: Click,
    clicks: Sequence[Click],
    spacing: Sequence[float],
    margin_mm: float = CORRECTION_MARGIN_MM,
    shell_mm: float | None = CORRECTION_SHELL_MM,
) -> tuple[tuple[slice, ...], np.ndarray]:
    """The voxels one correction click changes (rule 3 of the module doc).

    Args:
        previous: (X, Y, Z) bool previous answer.
        answer: (X, Y, Z) bool new answer of the network (click labels applied): for a
            foreground click where it adds, for a background one where it keeps foreground.
        click: the correction click.
        clicks: all the clicks (the other kind's decide whose neighbourhood a voxel is).
        spacing: voxel size in mm (X, Y, Z).
        margin_mm: added to the click's depth to give the radius.
        shell_mm: only voxels at most ``depth + shell_mm`` from the previous contour change
            (a click on the rim peels or grows the rim, not the core); None: no such limit.

    Returns:
        ``(box, region)``: slices of the grid and a bool array of the box's shape.
    """
    depth = click_depth_mm(previous, click, spacing)
    radius = depth + margin_mm
    box = _box(click.index, radius, spacing, previous.shape)
    flipped = answer[box] & ~previous[box] if click.positive else previous[box] & ~answer[box]
    distance = _distance_mm(box, click.index, spacing)
    allowed = flipped & (distance <= radius)
    if shell_mm is not None:
        allowed &= contour_distance_mm(previous[box], click.positive, spacing) <= depth + shell_mm
    for other in clicks:
        if other.positive != click.positive:
            allowed &= distance < _distance_mm(box, other.index, spacing)
    local = tuple(i - b.start for i, b in zip(click.index, box))
    if not allowed[local]:
        return box, np.zeros_like(allowed)
    labels, _ = ndimage.label(allowed, _FULL)
    return box, labels == labels[local]


def keep_clicked_components(probability: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
    """(X, Y, Z) ``probability`` with 0 on the foreground (> 0.5) components, 26-connected,
    that hold no foreground click."""
    out = np.array(probability, dtype=np.float32, copy=True)
    mask = out > 0.5
    if not mask.any():
        return out
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(mask))  # label only where needed
    labels, _ = ndimage.label(mask[box], _FULL)
    starts = [b.start for b in box]
    clicked = set()
    for c in clicks:
        local = tuple(i - s for i, s in zip(c.index, starts))
        if c.positive and all(0 <= v < n for v, n in zip(local, labels.shape)) and labels[local]:
            clicked.add(int(labels[local]))
    drop = (labels > 0) & ~np.isin(labels, sorted(clicked))
    out[box][drop] = 0.0
    return out


def correct_locally(
    answer: np.ndarray,
    clicks: Sequence[Click],
    previous: np.ndarray | None,
    spacing: Sequence[float],
    margin_mm: float = CORRECTION_MARGIN_MM,
    shell_mm: float | None = CORRECTION_SHELL_MM,
    confidence: float = CORRECTION_CONFIDENCE,
) -> np.ndarray:
    """The network's new answer merged into the previous one (the module doc's rules 1 to 4).

    Args:
        answer: (X, Y, Z) float foreground probability of the network with all ``clicks``.
        clicks: every click of the session, voxel indices of the same grid.
        previous: (X, Y, Z) previous answer (probability or {0, 1}; > 0.5 is foreground), or
            None when there is none.
        spacing: voxel size in mm (X, Y, Z).
        margin_mm: added to each correction click's depth to give the radius it may change.
        shell_mm: see :func:`correction_region`.
        confidence: how far from 0.5 the network's probability must be to add (above) or
            remove (below) a voxel, in [0, 0.5).

    Returns:
        (X, Y, Z) float32 probability: the network's where corrected, the previous elsewhere.
    """
    answer = apply_click_labels(answer, clicks)
    if previous is None or not (np.asarray(previous) > 0.5).any():
        return keep_clicked_components(answer, clicks)
    previous = np.asarray(previous, dtype=np.float32)
    if previous.shape != answer.shape:
        raise ValueError(f"previous answer has shape {previous.shape}, expected {answer.shape}")
    if not 0.0 <= confidence < 0.5:
        raise ValueError(f"confidence must be in [0, 0.5), got {confidence}")
    before = previous > 0.5
    adds, keeps = answer > 0.5 + confidence, answer >= 0.5 - confidence
    out = apply_click_labels(previous, [])
    for click in correction_clicks(before, clicks):
        after = adds if click.positive else keeps  # a removal flips what the network no longer keeps
        box, region = correction_region(before, after, click, clicks, spacing, margin_mm, shell_mm)
        out[box][region] = answer[box][region]
    return keep_clicked_components(apply_click_labels(out, clicks), clicks)



def lowest_read(corrected: bool = True, confidence: float = CORRECTION_CONFIDENCE) -> float:
    """The lowest network probability that still matters to what comes next: an answer may be cut
    to where it reaches this. Corrected (:func:`correct_locally`): its ``keeps``, ``0.5 -
    confidence``; taken as it is: the answer's threshold, 0.5."""
    return 0.5 - confidence if corrected else 0.5


def correction_work_box(
    shape: Sequence[int], answer_box: Box, clicks: Sequence[Click], previous: np.ndarray | None,
    spacing: Sequence[float], margin_mm: float = CORRECTION_MARGIN_MM,
) -> Box:
    """The box of an (X, Y, Z) grid of ``shape`` outside which :func:`correct_locally` reads and
    writes nothing but zeros: the network's answer box, the previous answer's bounding box and one
    voxel more, and around each click the largest box a correction looks at
    (``MAX_DEPTH_MM + margin_mm``, as :func:`click_depth_mm` and :func:`correction_region` cut it).
    With no previous foreground nothing is corrected (only the clicks are labelled and the
    clicked components kept): the clicks' own voxels are enough there."""
    previous_box = mask_box(np.asarray(previous) > 0.5, margin=1) if previous is not None else None
    reach = [int(np.ceil((MAX_DEPTH_MM + margin_mm) / s)) + 1 for s in spacing] if previous_box else [0, 0, 0]
    clicked = around_points([c.index for c in clicks], reach, shape)
    return union_box([answer_box, previous_box, clicked], shape) or full_box(shape)


def correct_locally_in_box(
    answer: np.ndarray,
    answer_box: Box,
    shape: Sequence[int],
    clicks: Sequence[Click],
    previous: np.ndarray | None,
    spacing: Sequence[float],
    margin_mm: float = CORRECTION_MARGIN_MM,
    shell_mm: float | None = CORRECTION_SHELL_MM,
    confidence: float = CORRECTION_CONFIDENCE,
) -> tuple[np.ndarray, Box]:
    """:func:`correct_locally` on the part of a whole study where it can change anything.

    Every rule of :func:`correct_locally` reads voxels within a click's correction box, the
    answers' foreground or its components; outside :func:`correction_work_box` all of them are
    0, so computing there gives the same answer as on the whole grid (a 512 x 512 x 160 CT costs
    the box, not 40 M voxels).

    Args:
        answer: float probability on ``answer_box`` (its shape), 0 elsewhere on the grid.
        answer_box: a box of the (X, Y, Z) grid of ``shape``.
        shape: the whole grid's size.
        clicks, spacing, margin_mm, shell_mm, confidence: as :func:`correct_locally`, on the whole grid.
        previous: (X, Y, Z) previous answer on the whole grid, or None.

    Returns:
        (float32 probability on the work box, the work box).
    """
    work = correction_work_box(shape, answer_box, clicks, previous, spacing, margin_mm)
    local_answer = np.zeros([b.stop - b.start for b in work], dtype=np.float32)
    local_answer[within(answer_box, work)] = answer
    local_clicks = [Click(tuple(i - b.start for i, b in zip(c.index, work)), c.positive) for c in clicks]
    local_previous = None if previous is None else np.asarray(previous)[work]
    corrected = correct_locally(local_answer, local_clicks, local_previous, spacing, margin_mm, shell_mm, confidence)
    return corrected, work


__all__ = [
    "CORRECTION_CONFIDENCE",
    "CORRECTION_MARGIN_MM",
    "CORRECTION_SHELL_MM",
    "MAX_DEPTH_MM",
    "apply_click_labels",
    "click_depth_mm",
    "lowest_read",
    "contour_distance_mm",
    "correct_locally",
    "correct_locally_in_box",
    "correction_work_box",
    "correction_clicks",
    "correction_region",
    "keep_clicked_components",
]
