"""Which label files the datastore keeps: the checks of :mod:`lib.label_check` per label tag.

- ``corrective``: the corrective annotation format of :mod:`lib.online.annotation`
  (0 not annotated, 1 GTV, 2 heart, 3 background) with at least one annotated voxel.
- ``organs``: 0 or one of the phantom's organ values (:data:`lib.phantom.config.ALL_LABELS`): these
  files are the phantom datastore's ``labels/organs`` (``lib.phantom.datastore``), in its own values.
- any other tag (``final``, ``original``...): 0 or one of the app's label values (:data:`lib.labels.LABELS`).

A save from 3D Slicer's MONAI Label extension brings ``label_info``; its segment values
are mapped by name onto the app's labels (full labels only) and the mapped label is kept.
A save from OHIF (``label.bin``: raw uint8 on the image's grid, ``label_info`` entries whose
``idx`` is the value in the file) is written as a NIfTI label on the image's grid first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lib.label_check import (
    check_same_grid,
    check_values,
    indexed_value_map,
    read_grid,
    read_label,
    read_raw_label,
    remap,
    segment_value_map,
    write_label_like,
)
from lib.online.annotation import ANNOTATED_BACKGROUND, check_annotation
from lib.phantom.config import ALL_LABELS as PHANTOM_ORGAN_LABELS

CORRECTIVE_TAG = "corrective"
ORGANS_TAG = "organs"


class UnreadableLabel(ValueError):
    """The uploaded file is not a readable 3D label volume (HTTP 415)."""


def allowed_values(tag: str, labels: Mapping[str, int]) -> set[int]:
    """The voxel values a label with ``tag`` may hold."""
    if tag == CORRECTIVE_TAG:
        return set(range(ANNOTATED_BACKGROUND + 1))
    if tag == ORGANS_TAG:
        return {0, *PHANTOM_ORGAN_LABELS.values()}
    return {0, *labels.values()}


def label_to_keep(
    upload: Path, image_path: str, tag: str, label_info: object, labels: Mapping[str, int], mapped_path: Path
) -> Path:
    """The file to keep for an uploaded label: ``upload`` itself, or its values mapped by segment name.

    Args:
        upload: the uploaded label file (``.nii.gz``, ``.nii``, ``.nrrd``).
        image_path: the datastore image the label belongs to.
        tag: the label tag.
        label_info: the request's ``label_info`` (Slicer's segment list) or None.
        labels: the app's label names and values.
        mapped_path: where a mapped label is written (same suffix as ``upload``).

    Raises:
        UnreadableLabel: the upload cannot be read as a 3D label.
        ValueError: wrong shape, geometry or values, or unknown segment names; naming which.
    """
    try:
        array, grid = read_label(str(upload))
    except ValueError as error:
        raise UnreadableLabel(str(error)) from None
    check_same_grid(grid, read_grid(image_path, what="datastore image"))
    kept = upload
    if label_info is not None and tag != CORRECTIVE_TAG:
        mapping = segment_value_map(label_info, labels)
        present = [v for v in check_values(array, [0, *mapping]).tolist() if v]
        if any(mapping[v] != v for v in present):
            array = remap(array, mapping)
            write_label_like(array, grid, str(mapped_path))
            kept = mapped_path
    check_values(array, allowed_values(tag, labels))
    if tag == CORRECTIVE_TAG:
        check_annotation(np.asarray(array), grid.shape)
    return kept


def raw_label_as_nifti(
    upload: Path, image_path: str, label_info: object, labels: Mapping[str, int], out_path: Path
) -> Path:
    """Write OHIF's raw ``label.bin`` as a NIfTI label with the app's values on the image's grid.

    Args:
        upload: the raw file (one uint8 per voxel, i fastest).
        image_path: the datastore image it belongs to.
        label_info: OHIF's segment list (``idx`` = value in the file), or None (values as sent).
        labels: the app's label names and values.
        out_path: the ``.nii.gz`` to write.

    Raises:
        ValueError: wrong voxel count, unknown segment names or values.
    """
    grid = read_grid(image_path, what="datastore image")
    array = read_raw_label(str(upload), grid)
    if label_info is not None:
        array = remap(array, indexed_value_map(label_info, labels))
    write_label_like(array, grid, str(out_path))
    return out_path
