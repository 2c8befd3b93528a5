"""Patch the server's answer into the segments, and keep what it replaced for an undo.

Masks are bool arrays in (K, J, I) order, one per mapped segment. The answer replaces the
mapped segments everywhere except on the slices the user drew, which keep the user's masks
exactly (the server sends them back as drawn; this makes it so whatever it sends).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence

import numpy as np

from .geometry import numpy_axis


@dataclass(frozen=True)
class Patch:
    """New masks for the mapped segments, and what changed.

    Attributes:
        masks: ``{segment id: (K, J, I) bool}``, the segments after the answer.
        changed_voxels: ``{segment id: voxels that differ from before}``.
        drawn_differences: voxels of the drawn slices where the answer differed from the
            user's drawing (kept as drawn); 0 when the server kept them.
    """

    masks: Dict[str, np.ndarray]
    changed_voxels: Dict[str, int]
    drawn_differences: int


def drawn_region(shape: Sequence[int], axis: int, slices: Sequence[int]) -> np.ndarray:
    """(K, J, I) bool: True on the slices across IJK ``axis`` listed in ``slices``."""
    region = np.zeros(tuple(shape), dtype=bool)
    index = [slice(None)] * 3
    index[numpy_axis(axis)] = [int(s) for s in slices]
    region[tuple(index)] = True
    return region


def patch_answer(
    current: Mapping[str, np.ndarray],
    answer: np.ndarray,
    mapping: Mapping[str, int],
    axis: int,
    drawn: Sequence[int],
) -> Patch:
    """The mapped segments replaced by the answer, the drawn slices kept as drawn.

    Args:
        current: ``{segment id: (K, J, I) bool}`` as the user left them (every mapped segment).
        answer: the server's (K, J, I) label map on the same grid.
        mapping: ``{segment id: label value}``.
        axis: the IJK axis the slices were drawn across.
        drawn: every slice drawn so far across ``axis``.
    """
    answer = np.asarray(answer)
    keep = drawn_region(answer.shape, axis, drawn)
    masks: Dict[str, np.ndarray] = {}
    changed: Dict[str, int] = {}
    differences = np.zeros(answer.shape, dtype=bool)
    for segment_id, value in mapping.items():
        before = np.asarray(current[segment_id], dtype=bool)
        if before.shape != answer.shape:
            raise ValueError(f"segment {segment_id!r} has shape {before.shape}, the answer {answer.shape}")
        proposed = answer == value
        differences |= keep & (proposed != before)
        after = np.where(keep, before, proposed)
        masks[segment_id] = after
        changed[segment_id] = int(np.count_nonzero(after != before))
    return Patch(masks, changed, int(np.count_nonzero(differences)))


@dataclass
class UndoStack:
    """Earlier states of the mapped segments (bit-packed), newest last, at most ``limit``."""

    limit: int = 5
    _states: List[dict] = field(default_factory=list)

    def push(self, masks: Mapping[str, np.ndarray], **extra: object) -> None:
        """Keep ``masks`` (and any ``extra`` state, e.g. the edit history) for one undo."""
        packed = {sid: (np.packbits(np.asarray(m, dtype=bool).ravel()), np.asarray(m).shape) for sid, m in masks.items()}
        self._states.append({"masks": packed, "extra": dict(extra)})
        del self._states[: max(0, len(self._states) - self.limit)]

    def pop(self) -> tuple:
        """The newest state as (``{segment id: (K, J, I) bool}``, extra); IndexError when empty."""
        if not self._states:
            raise IndexError("nothing to undo")
        state = self._states.pop()
        masks = {}
        for sid, (bits, shape) in state["masks"].items():
            masks[sid] = np.unpackbits(bits, count=int(np.prod(shape))).astype(bool).reshape(shape)
        return masks, state["extra"]

    def __len__(self) -> int:
        return len(self._states)


__all__ = ["Patch", "UndoStack", "drawn_region", "patch_answer"]
