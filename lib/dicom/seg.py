"""Labels as DICOM SEG (highdicom): write one on a source series' grid and read it back.

A label is an (X, Y, Z) uint8 array on the source series' grid (i = column, j = row,
k = slice in ascending order along the normal, see ``lib.dicom.series``), values from
the app's label map ``lib.labels.LABELS`` (1 = gtv, 2 = heart). Each label value becomes the
segment of that number, named and coded (SNOMED CT, ``lib.labels.STRUCTURES``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from lib.dicom.series import deterministic_uid, sorted_datasets
from lib.labels import LABELS, STRUCTURES

#: (category, type, description) of each structure the app contours.
SEGMENT_CODES: dict[str, tuple[hd.sr.CodedConcept, hd.sr.CodedConcept, str]] = {
    s.name: (hd.sr.CodedConcept(s.category[0], "SCT", s.category[1]), hd.sr.CodedConcept(s.code[0], "SCT", s.code[1]),
             s.description)
    for s in STRUCTURES
}
ALGORITHM = hd.AlgorithmIdentificationSequence(
    name="radiotherapy-monailabel", version="0.1.0", family=codes.cid7162.ArtificialIntelligence
)


def segment_descriptions(present: Sequence[int], labels: Mapping[str, int] = LABELS) -> list[hd.seg.SegmentDescription]:
    """One named, coded description per label value in ``present`` (segment number = label value)."""
    names = {value: name for name, value in labels.items()}
    descriptions = []
    for value in present:
        name = names[int(value)]
        category, kind, text = SEGMENT_CODES[name]
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=int(value),
                segment_label=name,
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
                algorithm_identification=ALGORITHM,
            )
        )
        descriptions[-1].SegmentDescription = text
    return descriptions


def label_to_seg(
    label: np.ndarray,
    source: Sequence[Dataset],
    labels: Mapping[str, int] = LABELS,
    series_number: int = 300,
    description: str = "MONAI Label",
    seed: object | None = None,
) -> hd.seg.Segmentation:
    """A DICOM SEG of ``label`` that references every instance of the source series.

    Args:
        label: (X, Y, Z) integer label on the source grid, values 0 or from ``labels``.
        source: the source series' instances (any order; sorted along the normal here).
        labels: name -> value of every structure the label may hold.
        series_number: SeriesNumber of the SEG.
        description: SeriesDescription of the SEG.
        seed: makes the SEG's UIDs deterministic when given (phantoms); new UIDs otherwise.

    Raises:
        ValueError: the label's shape differs from the series' (columns, rows, slices), or it
            holds values that are not in ``labels``.
    """
    source = sorted_datasets(list(source))
    expected = (int(source[0].Columns), int(source[0].Rows), len(source))
    if tuple(label.shape) != expected:
        raise ValueError(
            f"label shape {tuple(label.shape)} differs from the series' (columns, rows, slices) {expected}"
        )
    present = [int(v) for v in np.unique(label) if v != 0]
    unknown = sorted(set(present) - set(labels.values()))
    if unknown:
        raise ValueError(f"label values {unknown} are not among {dict(labels)}")
    if not present:
        raise ValueError("the label is empty: a DICOM SEG needs at least one segment")
    # highdicom wants consecutive segment numbers from 1; keep the label values as numbers.
    numbers = list(range(1, max(present) + 1))
    frames = np.ascontiguousarray(np.transpose(label.astype(np.uint8), (2, 1, 0)))  # (k, j, i) = (frame, row, col)
    series_uid = deterministic_uid(seed, "seg") if seed is not None else hd.UID()
    return hd.seg.Segmentation(
        source_images=source,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(numbers, labels),
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=deterministic_uid(seed, "seg-instance") if seed is not None else hd.UID(),
        instance_number=1,
        manufacturer="radiotherapy-monailabel",
        manufacturer_model_name="MONAI Label app",
        software_versions="0.1.0",
        device_serial_number="1",
        series_description=description,
        content_label="RTCONTOURS",
        omit_empty_frames=False,
    )


def seg_to_label(seg: Dataset, source: Sequence[Dataset]) -> np.ndarray:
    """The (X, Y, Z) uint8 label a SEG holds on the source series' grid (segment number = value).

    Raises:
        ValueError: the SEG does not reference the source series, or its segments overlap.
    """
    source = sorted_datasets(list(source))
    segmentation = hd.seg.Segmentation.from_dataset(seg)
    series_uid = str(source[0].SeriesInstanceUID)
    referenced = {str(item.SeriesInstanceUID) for item in seg.ReferencedSeriesSequence}
    if series_uid not in referenced:
        raise ValueError(f"the SEG references series {sorted(referenced)}, not {series_uid}")
    frames = segmentation.get_pixels_by_source_instance(
        source_sop_instance_uids=[str(ds.SOPInstanceUID) for ds in source],
        combine_segments=True,
        relabel=False,
        skip_overlap_checks=False,
    )
    return np.ascontiguousarray(np.transpose(frames, (2, 1, 0))).astype(np.uint8)
