"""Which path answers a slice-edit request, and the user's label corrected by the edits.

The user's uploaded label is the base; an answer changes it only where the edits give a
reason. Three paths, chosen per request (:func:`choose_path`):

- ``network``: the uploaded label is the network's own view of the image (outside the edited
  slices, inside the window, each edited class agrees with what the network serves for the
  image, its sliding-window answer on the whole image, DSC >= ``agree_at``) and the feature update fitted every edit: the network's updated answer
  (the paper's method, :mod:`lib.propagation.propagate`) answers in the window, as the
  paper's setting assumes.
- ``correction``: the label is not the network's (it came from clicks, another model, a hand,
  another session), the update fitted every edit: the label is moved by the edits'
  displacements (:func:`lib.propagation.shape.propagate_shape`), and near the edits (the
  edited slices and ``near_slices`` each side, where the paper's update answers) the updated
  network overrules it where it is confident (probability of its class >= ``confidence``),
  between background and the redrawn classes only, and only where the edit gives a reason
  (:func:`supported_changes`): a change must be connected (26-neighbours, through other
  accepted changes) to a slice next to an edit, and the network may erase the user's voxels
  of a class only near an edit that is not at that structure's end. At a structure's end (the
  nearest unedited slice on one side is empty) the request does not say what the user
  changed: the drawing alone cannot tell a user who trimmed the end from one who drew it as it
  was, so the network's wish to shrink the slices behind it is its own old opinion, not the
  edit's (measured: held-out phantom 900, a click model's label, 3 clicks; the edit at the
  GTV's first slice, the network removed 29 of the user's voxels on the next two slices, 21
  of them right, and the answer fell from the label's 0.842 DSC to 0.824, paste 0.866).
  Farther away nothing but the displacements changes the user's label; structures the user
  did not redraw keep their voxels.
- ``fallback``: the update could not fit an edit (the edited voxels' error after the
  iterations above ``fit_error``: the network does not understand this image or structure),
  or the label is the network's own but the network did not know the structure where the user
  drew (the edited voxels' error BEFORE the update above ``unknown_error``: its answer there
  missed the drawing almost entirely, as the CT network does on STIR MRI, where answering with
  its update lost even the few voxels it had right), or most of the network's confident changes near the edits are not supported by them (a
  share under ``support``): the label moved by the edits' displacements alone, no network.

Every path keeps the edited slices exactly as drawn, and the label outside the propagation
window as uploaded. Arrays are (X, Y, Z) uint8 class labels on the image's grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import cc3d

from lib.propagation.shape import REACH_SLICES, before_edit, propagate_shape, redrawn
from lib.propagation.update import UpdateReport

PATHS: tuple[str, ...] = ("network", "correction", "fallback")
#: Per-class DSC between the uploaded label and the network's served answer (sliding window on
#: the whole image), at and above which the label counts as the network's own (the ``network``
#: path): the network's prediction, passed through the app's grids, agrees up to resampling.
#: (Compared with the one-pass answer on the window instead, the network's own prediction
#: agreed at only 0.78-0.96 and 4 of 7 held-out phantoms took the correction path.)
AGREE_AT = 0.95
#: The guard: an edit whose edited-voxel error after the update is above this is not fitted.
FIT_ERROR = 0.25
#: How sure the updated network must be of a class it changed to, to overrule the user's label.
CONFIDENCE = 0.8
#: The network path's guard: an edit whose edited-voxel error before the update is above this
#: shows that the network does not know the structure there. Validation phantoms 800-807, worst
#: slice: the CT network on CT 0.03-0.29 (one 1.0, an edit where it had missed the slice, and its
#: updated answer fell below the label) against 0.52-0.84 on STIR MRI.
UNKNOWN_ERROR = 0.5
#: The second guard: the share of the network's confident changes near the edits that the edits
#: support (:func:`supported_changes`), under which the network does not answer at all.
SUPPORT = 0.5


@dataclass(frozen=True)
class CorrectionSettings:
    """How the answer is chosen and made (module doc).

    Attributes:
        agree_at: label-network foreground DSC from which the ``network`` path answers.
        fit_error: the guard's edited-voxel error threshold.
        confidence: the updated network's probability needed to overrule the user's label.
        reach: slices beyond the outermost edit a displacement reaches
            (:func:`lib.propagation.shape.propagate_shape`).
        support: the share of the network's changes the edits must support, else ``fallback``.
        unknown_error: on the network path, the edited-voxel error before the update above
            which the network does not know the structure (``fallback``); 1: never.
    """

    agree_at: float = AGREE_AT
    fit_error: float = FIT_ERROR
    confidence: float = CONFIDENCE
    reach: int = REACH_SLICES
    support: float = SUPPORT
    unknown_error: float = UNKNOWN_ERROR

    def __post_init__(self) -> None:
        if not self.agree_at >= 0:
            raise ValueError(f"agree_at must be >= 0 (above 1: never the network path), got {self.agree_at!r}")
        if not 0 <= self.fit_error <= 1:
            raise ValueError(f"fit_error must be in [0, 1], got {self.fit_error!r}")
        if not 0.5 <= self.confidence <= 1:
            raise ValueError(f"confidence must be in [0.5, 1], got {self.confidence!r}")
        if isinstance(self.reach, bool) or not isinstance(self.reach, int) or self.reach < 0:
            raise ValueError(f"reach must be an integer >= 0, got {self.reach!r}")
        if not 0 <= self.support <= 1:
            raise ValueError(f"support must be in [0, 1], got {self.support!r}")
        if not 0 <= self.unknown_error <= 1:
            raise ValueError(f"unknown_error must be in [0, 1], got {self.unknown_error!r}")


@dataclass(frozen=True)
class PathChoice:
    """The path that answers and why (``reason``, one sentence for the JSON result)."""

    path: str
    reason: str
    agreement: float


def choose_path(
    reports: Sequence[UpdateReport],
    agreement: float,
    agree_at: float = AGREE_AT,
    fit_error: float = FIT_ERROR,
    unknown_error: float = 1.0,
) -> PathChoice:
    """The path (module doc) from the update's reports and the label-network agreement.

    ``unknown_error``: the network path's guard (:data:`UNKNOWN_ERROR`); 1 (the default here): none.
    """
    unfitted = [(n, r.error_after) for n, r in enumerate(reports) if r.error_after > fit_error]
    if unfitted:
        n, error = unfitted[0]
        return PathChoice(
            "fallback",
            f"the feature update did not fit edit {n} (edited-voxel error {error:.2f} > {fit_error} after the "
            f"iterations): the edits' displacements alone answer",
            agreement,
        )
    unknown = [(n, r.error_before) for n, r in enumerate(reports) if r.error_before > unknown_error]
    if agreement >= agree_at and unknown:
        n, error = unknown[0]
        return PathChoice(
            "fallback",
            f"the label is the network's own (foreground DSC {agreement:.2f} >= {agree_at}) but the network did not "
            f"know the structure at edit {n} (edited-voxel error {error:.2f} > {unknown_error} before the update): "
            "the edits' displacements alone answer",
            agreement,
        )
    if agreement >= agree_at:
        return PathChoice(
            "network",
            f"the label agrees with the network's own answer (foreground DSC {agreement:.2f} >= {agree_at}): "
            "the network's updated answer answers in the window",
            agreement,
        )
    return PathChoice(
        "correction",
        f"the label is not the network's (foreground DSC {agreement:.2f} < {agree_at}): the label, moved by the "
        "edits' displacements and by the network's confident changes near the edits",
        agreement,
    )


def edit_classes(label: np.ndarray, axis: int, slices: Sequence[int]) -> list[int]:
    """Classes on the edited slices (what the edits are about); all the label's when those are empty."""
    planes = np.concatenate([np.take(label, s, axis=axis).ravel() for s in slices])
    classes = sorted(set(np.unique(planes).tolist()) - {0})
    return classes or sorted(set(np.unique(label).tolist()) - {0})


def redrawn_classes(label: np.ndarray, axis: int, slices: Sequence[int], spacing: Sequence[float]) -> list[int]:
    """The :func:`edit_classes` the user changed (:func:`lib.propagation.shape.redrawn`); all of
    them when none looks changed (the user redrew a slice as it was: nothing to propagate anyway)."""
    classes = edit_classes(label, axis, slices)
    changed = [c for c in classes if redrawn(label == c, axis, slices, spacing)]
    return changed or classes


def foreground_agreement(label: np.ndarray, network: np.ndarray, classes: Sequence[int], where: np.ndarray) -> float:
    """The lowest over ``classes`` of the DSC between two labels' masks of that class inside the bool
    mask ``where`` (1.0 for a class empty in both): a large structure's agreement cannot hide a
    small one's disagreement."""
    scores = []
    for value in classes:
        a, b = (label == value) & where, (network == value) & where
        total = int(a.sum()) + int(b.sum())
        scores.append(1.0 if total == 0 else 2.0 * int((a & b).sum()) / total)
    return min(scores, default=1.0)


def slab(shape: Sequence[int], axis: int, slices: Sequence[int], near: int) -> np.ndarray:
    """(X, Y, Z) bool: the slices ``slices`` along ``axis`` and ``near`` slices each side."""
    mask = np.zeros(tuple(shape), bool)
    for s in slices:
        where: list = [slice(None)] * 3
        where[axis] = slice(max(0, s - near), s + near + 1)
        mask[tuple(where)] = True
    return mask


def shape_corrected(
    label: np.ndarray,
    axis: int,
    slices: Sequence[int],
    spacing: Sequence[float],
    reach: int = REACH_SLICES,
    classes: Sequence[int] | None = None,
) -> np.ndarray:
    """The label with each edited class moved by the edits' displacements (module doc).

    A class grows only over background and shrinks to background; the edited slices stay as drawn.
    ``classes``: the classes to move (the redrawn ones); None: every :func:`edit_classes` one.
    """
    out = label.copy()
    for value in edit_classes(label, axis, slices) if classes is None else classes:
        mask = label == value
        moved = propagate_shape(mask, axis, slices, spacing, reach)
        out[mask & ~moved] = 0
        out[moved & ~mask & (label == 0)] = value
    return out


def structure_ends(label: np.ndarray, axis: int, slices: Sequence[int], value: int) -> list[int]:
    """The edited slices at an end of class ``value``'s structure: the nearest unedited slice on
    one side is empty or beyond the volume (:func:`lib.propagation.shape.before_edit` is None),
    so what the user changed there is unknown. Slices where the class is absent on both the
    slice and its neighbours do not count (the edit is not about this class)."""
    mask = label == value
    edited = set(int(s) for s in slices)
    ends = []
    for s in sorted(edited):
        near = slab(mask.shape, axis, [s], 1)
        if not (mask & near).any():
            continue
        if before_edit(mask, axis, s, edited, [1.0, 1.0]) is None:
            ends.append(s)
    return ends


def network_changes(
    corrected: np.ndarray,
    updated: np.ndarray,
    confidence: np.ndarray,
    near: np.ndarray,
    classes: Sequence[int],
    min_confidence: float = CONFIDENCE,
) -> np.ndarray:
    """(X, Y, Z) bool: where the updated network would overrule ``corrected``: near the edits,
    confident, between background and the redrawn classes (module doc).

    Args:
        corrected: the shape-corrected user label.
        updated: the network's answer after the edits, on the same grid.
        confidence: (X, Y, Z) the updated network's probability of ``updated``'s class.
        near: where the network may overrule the label (near the edits, inside the window).
        classes: the redrawn classes: changes between them and background only (another
            structure the user did not redraw keeps its voxels).
        min_confidence: the probability needed to overrule the label.
    """
    allowed = [0, *classes]
    changed = (updated != corrected) & near & (confidence >= min_confidence)
    return changed & np.isin(updated, allowed) & np.isin(corrected, allowed)


@dataclass(frozen=True)
class Support:
    """Which of the network's changes the edits support (:func:`supported_changes`).

    Attributes:
        accepted: (X, Y, Z) bool, the supported changes of the classes not withheld.
        candidates: voxels the network would change.
        behind_ends: of those, erasures of the user's voxels near an edit at the structure's end.
        unconnected: of those, changes not connected to a slice next to an edit.
        ends: the edited slices at an end of a redrawn structure.
        withheld: classes whose supported share was under ``min_share``: none of their changes taken.
        share: per class with candidates, supported changes over candidate changes.
    """

    accepted: np.ndarray
    candidates: int
    behind_ends: int
    unconnected: int
    ends: tuple[int, ...]
    withheld: tuple[int, ...] = ()
    share: dict | None = None


def supported_changes(
    candidates: np.ndarray,
    corrected: np.ndarray,
    label: np.ndarray,
    axis: int,
    slices: Sequence[int],
    near_slices: int,
    classes: Sequence[int],
    min_share: float = SUPPORT,
    updated: np.ndarray | None = None,
) -> Support:
    """The network's changes that the edits give a reason for (module doc, ``correction``).

    Args:
        candidates: (X, Y, Z) bool, the changes the network would make (:func:`network_changes`).
        corrected: (X, Y, Z) the label being changed (the shape-corrected user label).
        label: (X, Y, Z) the uploaded label with the drawings (where structure ends are judged).
        axis: the slice axis; ``slices``: the edited slices along it.
        near_slices: how far from an edit its reason reaches (the network's near slices).
        classes: the redrawn classes.
        min_share: a class whose supported changes are under this share of its candidate
            changes gets none (the network's view of it is not the edits'); 0 keeps all supported.
        updated: (X, Y, Z) the network's answer, to tell whose class an added voxel is (a
            change belongs to the class it erases, else to the class it adds); None: erasures only.

    A change is supported when (1) it does not erase a voxel of class c near an edit at c's
    structure end, unless another edit that is not at c's end is also near it, and (2) it is
    26-connected, through supported changes, to a slice at most one from an edit.
    """
    accepted = candidates.copy()
    ends: list[int] = []
    behind_ends = 0
    for value in classes:
        at_end = structure_ends(label, axis, slices, value)
        ends += at_end
        if not at_end:
            continue
        inner = [s for s in slices if s not in at_end]
        erasing = candidates & (corrected == value)
        blocked = erasing & slab(label.shape, axis, at_end, near_slices)
        if inner:
            blocked &= ~slab(label.shape, axis, inner, near_slices)
        behind_ends += int(blocked.sum())
        accepted &= ~blocked
    components = cc3d.connected_components(accepted, connectivity=26)
    anchored = np.unique(components[slab(label.shape, axis, slices, 1) & (components > 0)])
    connected = np.isin(components, anchored) & accepted
    unconnected = int(accepted.sum() - connected.sum())
    owner = corrected if updated is None else np.where(corrected > 0, corrected, updated)
    share, withheld = {}, []
    for value in classes:
        mine = candidates & (owner == value)
        if not mine.any():
            continue
        share[int(value)] = float((connected & mine).sum()) / float(mine.sum())
        if share[int(value)] < min_share:
            withheld.append(int(value))
            connected &= ~mine
    return Support(connected, int(candidates.sum()), behind_ends, unconnected, tuple(sorted(set(ends))),
                   tuple(withheld), share)


def supported_path(choice: PathChoice, support: Support) -> PathChoice:
    """``choice``, or ``fallback`` when a ``correction`` choice's changes were withheld for every
    class the network would change; the reason says how many changes were set aside and why."""
    if choice.path != "correction" or support.candidates == 0 or support.accepted.sum() == support.candidates:
        return choice
    shares = ", ".join(f"class {c}: {v:.2f}" for c, v in (support.share or {}).items())
    detail = (f"{support.candidates - int(support.accepted.sum())} of the network's {support.candidates} confident "
              f"changes near the edits set aside ({support.behind_ends} would erase the user's voxels behind a "
              f"structure end at slice(s) {list(support.ends)}, {support.unconnected} not connected to an edit; "
              f"supported share {shares}")
    withheld = f"; no change of class(es) {list(support.withheld)}" if support.withheld else ""
    if not support.accepted.any():
        return PathChoice(
            "fallback",
            f"the edits do not support the network's changes: {detail}){withheld}: the edits' displacements alone "
            "answer",
            choice.agreement,
        )
    return PathChoice("correction", f"{choice.reason}; {detail}){withheld}", choice.agreement)


def paste_slices(answer: np.ndarray, label: np.ndarray, axis: int, slices: Sequence[int]) -> np.ndarray:
    """``answer`` with the edited slices taken from ``label`` (as the user drew them)."""
    out = answer.copy()
    for s in slices:
        where: list = [slice(None)] * 3
        where[axis] = s
        out[tuple(where)] = label[tuple(where)]
    return out


def label_changes(before: np.ndarray, after: np.ndarray, axis: int) -> dict:
    """What an answer changed in the uploaded label: voxels added to / removed from a class
    (a voxel moved between two classes counts in both) and the slices (along ``axis``) touched."""
    changed = before != after
    touched = np.flatnonzero(changed.any(axis=tuple(a for a in range(3) if a != axis)))
    return {
        "voxels_added": int((changed & (after > 0)).sum()),
        "voxels_removed": int((changed & (before > 0)).sum()),
        "slices_touched": [int(s) for s in touched],
    }


__all__ = [
    "AGREE_AT", "CONFIDENCE", "FIT_ERROR", "PATHS", "SUPPORT", "UNKNOWN_ERROR", "CorrectionSettings", "PathChoice", "Support",
    "choose_path", "edit_classes", "foreground_agreement", "label_changes", "network_changes", "redrawn_classes",
    "paste_slices", "shape_corrected", "slab", "structure_ends", "supported_changes", "supported_path",
]
