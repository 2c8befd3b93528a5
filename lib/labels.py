"""The label map the app serves: the structures it contours, their values and codes.

Every label the app reads or writes holds these values, 0 background: datastore label files,
infer answers, trainers' targets, and the segment numbers of a DICOM SEG (named and coded with
``SNOMED CT``, the codes :mod:`lib.dicom.seg` writes). The map is the app's own; data sources
with labels of their own (the phantom generator's ``lib.phantom.config.LABELS``) are mapped onto
it by structure name with :func:`relabel`, and ``tests/lib/test_labels.py`` checks that the
phantom's values agree with these, so the phantom datastores the trainers read are app labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: The value of voxels that belong to no structure.
BACKGROUND = 0

#: SNOMED CT categories of a segment (code value, code meaning).
ANATOMICAL_STRUCTURE = ("123037004", "Anatomical Structure")
ABNORMAL_STRUCTURE = ("49755003", "Morphologically Abnormal Structure")


@dataclass(frozen=True)
class Structure:
    """One structure the app contours.

    Attributes:
        name: the label name in requests, ``/info`` and segment labels (``"gtv"``).
        value: its voxel value in every label (and its DICOM SEG segment number), >= 1.
        description: the human name (DICOM SEG SegmentDescription).
        category: SNOMED CT (code value, code meaning) of the segment's category.
        code: SNOMED CT (code value, code meaning) of the segment's property type.
    """

    name: str
    value: int
    description: str
    category: tuple[str, str]
    code: tuple[str, str]

    def __post_init__(self) -> None:
        if self.value <= BACKGROUND:
            raise ValueError(f"value must be above the background {BACKGROUND}, got {self.value} for {self.name!r}")


#: The structures the app contours, in value order.
STRUCTURES: tuple[Structure, ...] = (
    Structure("gtv", 1, "Gross tumour volume", ABNORMAL_STRUCTURE, ("86049000", "Neoplasm, Primary")),
    Structure("heart", 2, "Heart", ANATOMICAL_STRUCTURE, ("80891009", "Heart")),
)
#: name -> value of every structure (MONAI Label's ``labels`` mapping), background 0 not included.
LABELS: dict[str, int] = {s.name: s.value for s in STRUCTURES}
#: name -> structure.
BY_NAME: dict[str, Structure] = {s.name: s for s in STRUCTURES}


def value_map(source: Mapping[str, int]) -> dict[int, int]:
    """source value -> app value for every structure the two share by name.

    Args:
        source: name -> value of another label map (e.g. the phantom generator's).

    Raises:
        ValueError: ``source`` lacks one of the app's structures.
    """
    missing = sorted(set(LABELS) - set(source))
    if missing:
        raise ValueError(f"the label map {dict(source)} lacks the app's structure(s) {missing}")
    return {int(source[name]): value for name, value in LABELS.items()}


def relabel(label: np.ndarray, source: Mapping[str, int]) -> np.ndarray:
    """``label`` (values of ``source``, any shape) with the app's values; other structures become background.

    Returns:
        A uint8 array of ``label``'s shape, values 0 or from :data:`LABELS`.
    """
    label = np.asarray(label)
    out = np.full(label.shape, BACKGROUND, dtype=np.uint8)
    for source_value, value in value_map(source).items():
        out[label == source_value] = value
    return out


__all__ = ["ABNORMAL_STRUCTURE", "ANATOMICAL_STRUCTURE", "BACKGROUND", "BY_NAME", "LABELS", "STRUCTURES",
           "Structure", "relabel", "value_map"]
