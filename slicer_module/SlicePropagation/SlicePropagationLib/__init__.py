"""The plain-Python half of the SlicePropagation module: everything that runs without 3D Slicer.

Only the standard library, numpy, SimpleITK and requests (what Slicer bundles) are imported;
the module's Slicer-facing file imports its names from here.
"""

from __future__ import annotations

from .answers import Suggestion, fallback_note, model_labels, offers, parse_suggestion, propagation_models, report_lines
from .client import DEFAULT_URL, MonaiLabelClient, ServerError, normalise_url
from .edits import EditHistory, changed_classes, changed_slices, likely_axis
from .geometry import best_view, ijk_to_ras_of, nearest_ijk_axis, slice_centre_ras, view_axis, write_label, read_label
from .patch import Patch, UndoStack, patch_answer
from .segments import label_map, match_segments, segment_masks
from .workflow import SUGGESTION_MODEL, NoEdits, Outcome, PropagationSession, datastore_id, safe_image_id

__all__ = [
    "DEFAULT_URL", "EditHistory", "best_view", "MonaiLabelClient", "NoEdits", "Outcome", "Patch", "PropagationSession", "SUGGESTION_MODEL",
    "ServerError", "Suggestion", "UndoStack", "changed_classes", "changed_slices", "datastore_id", "fallback_note", "ijk_to_ras_of",
    "label_map", "likely_axis", "match_segments", "model_labels", "nearest_ijk_axis", "normalise_url", "offers",
    "parse_suggestion", "patch_answer", "propagation_models", "read_label", "report_lines", "safe_image_id",
    "segment_masks", "slice_centre_ras", "view_axis", "write_label",
]
