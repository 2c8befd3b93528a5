"""Segments <-> the server's label map: segments map to the server's labels by name.

A segment is a bool mask in (K, J, I) order on the volume's grid (what
``slicer.util.arrayFromSegmentBinaryLabelmap`` returns with the volume as reference).
A segment named like one of the server's labels (``gtv``, ``heart``; case and surrounding
spaces ignored) is sent and replaced; every other segment is left alone.
"""

from __future__ import annotations

from typing import Dict, Mapping

import numpy as np


def label_key(name: str) -> str:
    """How a segment name is compared with the server's label names."""
    return str(name).strip().lower()


def match_segments(segment_names: Mapping[str, str], server_labels: Mapping[str, int]) -> Dict[str, int]:
    """``{segment id: server label value}`` for the segments named like a server label.

    Args:
        segment_names: ``{segment id: segment name}`` of the segmentation.
        server_labels: the propagation model's labels from ``/info``, ``{name: value}``.

    Raises:
        ValueError: two segments carry the same label's name, or a label value is not 1..255.
    """
    by_key = {label_key(name): int(value) for name, value in server_labels.items() if label_key(name) != "background"}
    for name, value in by_key.items():
        if not 1 <= value <= 255:
            raise ValueError(f"server label {name!r} has value {value}, outside 1..255")
    mapping: Dict[str, int] = {}
    owner: Dict[int, str] = {}
    for segment_id, name in segment_names.items():
        value = by_key.get(label_key(name))
        if value is None:
            continue
        if value in owner:
            raise ValueError(
                f"segments {segment_names[owner[value]]!r} and {name!r} both map to the server's label {value}; "
                "rename one"
            )
        owner[value] = segment_id
        mapping[segment_id] = value
    return mapping


def label_map(masks: Mapping[str, np.ndarray], mapping: Mapping[str, int]) -> np.ndarray:
    """The server's label map (uint8, (K, J, I)) from the mapped segments' masks.

    Where two mapped segments overlap, the larger label value wins (the server's label map
    holds one class per voxel).
    """
    if not mapping:
        raise ValueError("no segment is named like one of the server's labels")
    shapes = {tuple(masks[s].shape) for s in mapping}
    if len(shapes) != 1:
        raise ValueError(f"the segments' masks differ in shape: {sorted(shapes)}")
    label = np.zeros(shapes.pop(), dtype=np.uint8)
    for segment_id, value in sorted(mapping.items(), key=lambda item: item[1]):
        label[np.asarray(masks[segment_id], dtype=bool)] = value
    return label


def segment_masks(label: np.ndarray, mapping: Mapping[str, int]) -> Dict[str, np.ndarray]:
    """``{segment id: bool mask}`` of the mapped segments, read off a (K, J, I) label map."""
    return {segment_id: np.asarray(label) == value for segment_id, value in mapping.items()}


__all__ = ["label_key", "label_map", "match_segments", "segment_masks"]
