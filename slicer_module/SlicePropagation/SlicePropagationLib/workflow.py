"""One image's propagation session: find the redrawn slices, ask the server, patch, undo.

This is the module Logic's whole behaviour without Slicer: the Slicer Logic only reads the
segments and the volume's geometry from the scene, hands them here, and writes the masks
it gets back. Masks and label maps are (K, J, I) arrays on the volume's grid; axes and
slices are named by IJK axis, as the server names them.

The session compares the current segments with a *reference*: the segments as they were
when the session started (the automatic contour) and, after each answer, as the answer
left them. Nothing changes in the session until :meth:`PropagationSession.accept`, so a
failed request or a failed write leaves everything as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .answers import Suggestion, fallback_note, parse_suggestion, report_lines
from .client import MonaiLabelClient
from .edits import EditHistory, changed_classes, changed_slices, likely_axis
from .geometry import grid_offset_mm, read_label, write_label
from .patch import Patch, UndoStack, patch_answer
from .segments import label_map

#: Largest distance (mm) between the answer's grid and the volume's (the server's own tolerance).
GRID_TOLERANCE_MM = 0.01
SUGGESTION_MODEL = "slice_suggestion"


def safe_image_id(name: str) -> str:
    """A datastore id for a volume's name: letters, digits, ``.``, ``_``, ``-`` only."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._")
    return text or "volume"


def datastore_id(volume_name: str, stock_samples: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
    """The datastore id of the image the stock MONAI Label extension fetched into ``volume_name``.

    Args:
        stock_samples: the extension's ``samples`` (``{image id: sample}``, each with its
            ``VolumeNodeName``).
    """
    for image_id, sample in stock_samples.items():
        if sample.get("VolumeNodeName") == volume_name:
            return str(sample.get("id", image_id))
    return None


class NoEdits(ValueError):
    """No slice differs from the reference: there is nothing to propagate."""


@dataclass(frozen=True)
class Outcome:
    """A propagation answer, not yet applied.

    Attributes:
        patch: the mapped segments' new masks and what changed.
        axis, slices: the IJK axis and every slice sent as redrawn.
        new_slices: the slices redrawn since the last answer.
        result: the server's JSON result.
        lines: what to show (the result's keys, the round trip's seconds).
        note: a warning (a fallback path answered, the history restarted), or None.
        seconds: the request's round trip.
    """

    patch: Patch
    axis: int
    slices: List[int]
    new_slices: List[int]
    result: Dict[str, Any]
    lines: List[str]
    note: Optional[str]
    seconds: float
    history: EditHistory = field(repr=False, default_factory=EditHistory)
    before: Dict[str, np.ndarray] = field(repr=False, default_factory=dict)


class PropagationSession:
    """Slice-edit propagation on one image.

    Args:
        client: the server's client.
        model: the propagation task's name (``slice_propagation``).
        image_id: the image's datastore id.
        ijk_to_ras: (4, 4) the volume's IJK-to-RAS matrix.
        shape_kji: the volume's array shape (K, J, I).
        workdir: where request and answer files go (removed after each request).
    """

    def __init__(self, client: MonaiLabelClient, model: str, image_id: str, ijk_to_ras: np.ndarray,
                 shape_kji: Sequence[int], workdir: Optional[str] = None):
        self.client, self.model, self.image_id = client, model, image_id
        self.ijk_to_ras = np.asarray(ijk_to_ras, dtype=float)
        self.shape_kji = tuple(int(n) for n in shape_kji)
        self.workdir = workdir or tempfile.gettempdir()
        self.reference: Optional[np.ndarray] = None
        self.history = EditHistory()
        self.undo_stack = UndoStack()

    def set_reference(self, label: np.ndarray) -> None:
        """Take ``label`` ((K, J, I) label map) as the contour the next edits are compared with."""
        if tuple(np.shape(label)) != self.shape_kji:
            raise ValueError(f"the label's shape {np.shape(label)} differs from the volume's {self.shape_kji}")
        self.reference = np.array(label, dtype=np.uint8, copy=True)

    def edits(self, label: np.ndarray, axis: Optional[int] = None) -> tuple:
        """(axis, slices redrawn since the reference) for the current ``label``; axis None: the likely one."""
        if self.reference is None:
            raise ValueError("no reference contour yet: take the current segments as the reference first")
        if axis is None:
            axis = likely_axis(label, self.reference)
            if axis is None:
                return None, []
        return axis, changed_slices(label, self.reference, axis)

    def _temp(self, stem: str) -> str:
        return os.path.join(self.workdir, f"{stem}_{os.getpid()}_{time.time_ns()}.nii.gz")

    def request(self, masks: Mapping[str, np.ndarray], mapping: Mapping[str, int], axis: Optional[int] = None,
                params: Optional[Dict[str, Any]] = None) -> tuple:
        """What :meth:`propagate` sends: (label map, params, new slices, history after, whether it restarted).

        Raises:
            NoEdits: no slice differs from the reference.
        """
        label = label_map(masks, mapping)
        if label.shape != self.shape_kji:
            raise ValueError(f"the segments' shape {label.shape} differs from the volume's {self.shape_kji}")
        axis, new = self.edits(label, axis)
        if not new:
            raise NoEdits("no slice was redrawn since the last answer: edit a slice first")
        history, restarted = self.history.extended(axis, new, changed_classes(label, self.reference))
        request = {**(params or {}), "slices": history.slices, "axis": history.axis}
        if history.classes:
            request["classes"] = history.classes
        return label, request, new, history, restarted

    def propagate(self, masks: Mapping[str, np.ndarray], mapping: Mapping[str, int], axis: Optional[int] = None,
                  params: Optional[Dict[str, Any]] = None,
                  progress: Optional[Callable[[float], None]] = None) -> Outcome:
        """Send the current segments and the redrawn slices; the answer patched (not yet applied).

        Args:
            masks: ``{segment id: (K, J, I) bool}`` of every mapped segment.
            mapping: ``{segment id: server label value}``.
            axis: the IJK axis of the view the user drew in; None: the axis the changes suggest.
            params: further request params (``level``, ``fusion``, ...).

        Raises:
            NoEdits: nothing was redrawn.
            ValueError: the answer is not on the volume's grid.
            ServerError: the request failed (the server's message in it).
        """
        label, request, new, history, restarted = self.request(masks, mapping, axis, params)
        sent = write_label(label, self.ijk_to_ras, self._temp("label"))
        answer_path = None
        try:
            start = time.perf_counter()
            answer_path, result = self.client.infer(self.model, self.image_id, request, sent, self.workdir, progress)
            seconds = time.perf_counter() - start
            if answer_path is None:
                raise ValueError(f"the server's answer has no label: {report_lines(result)}")
            answer, answer_grid = read_label(answer_path)
        finally:
            for path in (sent, answer_path):
                if path and os.path.exists(path):
                    os.remove(path)
        offset = grid_offset_mm(answer_grid, self.ijk_to_ras, label.shape[::-1]) if answer.shape == label.shape else None
        if offset is None or offset > GRID_TOLERANCE_MM:
            raise ValueError(f"the server's answer (shape {answer.shape}) is not on the volume's grid {label.shape}")
        patch = patch_answer(masks, answer, mapping, history.axis, history.slices)
        notes = [n for n in (fallback_note(result),) if n]
        if restarted:
            notes.append(f"edits across axis {history.axis} restart the list (earlier ones were across axis {self.history.axis})")
        lines = [f"sent slices {history.slices} across axis {history.axis} (new: {new})"]
        lines += [f"changed {sid}: {n} voxels" for sid, n in patch.changed_voxels.items()]
        lines += report_lines(result, seconds)
        before = {sid: np.asarray(masks[sid], dtype=bool).copy() for sid in mapping}
        return Outcome(patch, history.axis, list(history.slices), list(new), dict(result), lines,
                       "; ".join(notes) or None, seconds, history, before)

    def accept(self, outcome: Outcome, mapping: Mapping[str, int]) -> None:
        """The answer was applied to the segments: it becomes the reference, and one undo step."""
        self.undo_stack.push(outcome.before, reference=self.reference, history=self.history)
        self.history = outcome.history
        self.reference = label_map(outcome.patch.masks, mapping)

    def undo(self) -> Dict[str, np.ndarray]:
        """The masks from before the last accepted answer (the session's state goes back too)."""
        masks, extra = self.undo_stack.pop()
        self.reference, self.history = extra["reference"], extra["history"]
        return masks

    def suggest(self, label: Optional[np.ndarray], axis: Optional[int] = None, top: int = 5) -> Suggestion:
        """Ask ``slice_suggestion`` for the slices worth checking, excluding the ones already redrawn.

        Args:
            label: the current (K, J, I) label map (uploaded), or None for the server's own prediction.
            axis: the IJK axis to rank slices across; None: the axis of the edits so far, else the server's choice.
        """
        axis = self.history.axis if axis is None else axis
        exclude = list(self.history.slices) if axis is not None and axis == self.history.axis else []
        request: Dict[str, Any] = {"exclude": exclude, "top": int(top)}
        if axis is not None:
            request["axis"] = int(axis)
        sent = write_label(label, self.ijk_to_ras, self._temp("label")) if label is not None else None
        try:
            _, result = self.client.infer(SUGGESTION_MODEL, self.image_id, request, sent, self.workdir)
        finally:
            if sent and os.path.exists(sent):
                os.remove(sent)
        return parse_suggestion(result, self.shape_kji[::-1], exclude)


__all__ = ["NoEdits", "Outcome", "PropagationSession", "SUGGESTION_MODEL", "datastore_id", "safe_image_id"]
