"""Which slices the user redrew: the current label compared with the last answer.

Arrays are (K, J, I) label maps; slices and axes are named as the server names them, by
IJK axis (0 = i, 1 = j, 2 = k). The request is stateless, so every slice redrawn so far is
sent each time, in the order first drawn (:class:`EditHistory`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .geometry import numpy_axis


def changed_slices(current: np.ndarray, reference: np.ndarray, axis: int) -> List[int]:
    """Indices across IJK ``axis`` of the slices where ``current`` differs from ``reference`` (ascending)."""
    current, reference = np.asarray(current), np.asarray(reference)
    if current.shape != reference.shape:
        raise ValueError(f"the label's shape {current.shape} differs from the reference's {reference.shape}")
    n = numpy_axis(axis)
    others = tuple(a for a in range(3) if a != n)
    return [int(s) for s in np.flatnonzero((current != reference).any(axis=others))]


def changed_classes(current: np.ndarray, reference: np.ndarray) -> List[int]:
    """The label values (not 0) whose voxels differ between ``current`` and ``reference``
    (ascending): the structures the user redrew, whether drawn over or erased."""
    current, reference = np.asarray(current), np.asarray(reference)
    if current.shape != reference.shape:
        raise ValueError(f"the label's shape {current.shape} differs from the reference's {reference.shape}")
    differ = current != reference
    values = set(np.unique(current[differ]).tolist()) | set(np.unique(reference[differ]).tolist())
    return sorted(int(v) for v in values - {0})


def likely_axis(current: np.ndarray, reference: np.ndarray) -> Optional[int]:
    """The IJK axis the changes were drawn across: the one along which they touch the fewest slices.

    A redrawn slice changes one slice across its own axis and many across the others. Ties go
    to the higher IJK axis (k: usually axial). None when nothing changed.
    """
    counts = [len(changed_slices(current, reference, axis)) for axis in (0, 1, 2)]
    if max(counts) == 0:
        return None
    return min((2, 1, 0), key=lambda axis: counts[axis])


@dataclass
class EditHistory:
    """The slices redrawn so far across one IJK axis, in the order first drawn, and the label
    values redrawn on them (the server moves only those structures)."""

    axis: Optional[int] = None
    slices: List[int] = field(default_factory=list)
    classes: List[int] = field(default_factory=list)

    def extended(self, axis: int, new_slices: Sequence[int],
                 new_classes: Sequence[int] = ()) -> Tuple["EditHistory", bool]:
        """The history with ``new_slices`` and ``new_classes`` added, and whether it restarted.

        Edits across another axis than the history's start a new history: the server takes
        one axis per request (the earlier slices stay in the label as drawn).
        """
        if axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
        restarted = self.axis is not None and axis != self.axis
        slices = [] if restarted else list(self.slices)
        for s in new_slices:
            if int(s) not in slices:
                slices.append(int(s))
        classes = sorted(set([] if restarted else self.classes) | {int(c) for c in new_classes})
        return EditHistory(axis, slices, classes), restarted


__all__ = ["EditHistory", "changed_classes", "changed_slices", "likely_axis"]
