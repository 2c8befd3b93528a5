"""Write a volume as a single-frame DICOM series (CT in HU, PET in SUV) with pydicom, and read one back.

Volumes are (X, Y, Z) arrays indexed (i, j, k) with a RAS affine (``lib.phantom``'s
convention); slice k becomes one instance (``InstanceNumber`` k + 1) with
``pixel_array[j, i] == stored(volume[i, j, k])``. CT values are stored as signed 16-bit
integers with ``RescaleIntercept`` -1024 (HU = stored - 1024); PET values (SUV, ``Units`` GML) as unsigned 16-bit
integers with one ``RescaleSlope`` for the series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    PositronEmissionTomographyImageStorage,
    generate_uid,
)

from lib.atomic import write_atomically
from lib.dicom.geometry import affine_from_planes, slice_geometry, slice_order

CT_INTERCEPT = -1024.0
_SOP_CLASSES = {"CT": CTImageStorage, "PT": PositronEmissionTomographyImageStorage}
_INT16 = np.iinfo(np.int16)
_UINT16 = np.iinfo(np.uint16)


@dataclass(frozen=True)
class Study:
    """Who and what a series belongs to (shared by every series of one study).

    Attributes:
        study_uid: StudyInstanceUID.
        frame_of_reference_uid: FrameOfReferenceUID (CT and PET of one study share it).
        patient_id: PatientID.
        patient_name: PatientName (DICOM PN, ``Family^Given``).
        date: StudyDate, ``YYYYMMDD``.
        accession: AccessionNumber.
    """

    study_uid: str
    frame_of_reference_uid: str
    patient_id: str
    patient_name: str
    date: str = "20260101"
    accession: str = ""


def deterministic_uid(*parts: object) -> str:
    """A UID that is the same for the same ``parts`` (so a rewritten phantom is the same study)."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _stored(volume: np.ndarray, modality: str) -> tuple[np.ndarray, float, float]:
    """Stored integers, slope and intercept for ``volume`` (HU for CT, SUV for PT)."""
    if modality == "CT":
        stored = np.clip(np.round(volume - CT_INTERCEPT), _INT16.min, _INT16.max).astype(np.int16)
        return stored, 1.0, CT_INTERCEPT
    top = float(max(volume.max(), 1e-6))
    slope = top / _UINT16.max
    stored = np.clip(np.round(volume / slope), 0, _UINT16.max).astype(np.uint16)
    return stored, slope, 0.0


def _instance(
    study: Study, modality: str, series_uid: str, series_number: int, description: str, k: int, frame: np.ndarray
) -> Dataset:
    """The attributes of slice ``k`` that do not depend on its geometry."""
    sop_uid = deterministic_uid(series_uid, "instance", k)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = _SOP_CLASSES[modality], sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study.study_uid, series_uid
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PatientID, ds.PatientName = study.patient_id, study.patient_name
    ds.PatientBirthDate, ds.PatientSex = "", "O"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", study.accession, ""
    ds.Modality, ds.SeriesNumber, ds.SeriesDescription = modality, series_number, description
    ds.InstanceNumber = k + 1
    ds.Manufacturer = "radiotherapy-phantom"
    ds.PositionReferenceIndicator = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = frame.shape
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if frame.dtype == np.int16 else 0
    ds.PixelData = np.ascontiguousarray(frame).tobytes()
    if modality == "CT":
        ds.KVP, ds.RescaleType = 120, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
    else:
        ds.Units, ds.CorrectedImage, ds.DecayCorrection = "GML", ["ATTN", "DECY"], "START"
        ds.SeriesType = ["STATIC", "IMAGE"]
    return ds


def write_series(
    volume: np.ndarray,
    affine: np.ndarray,
    out_dir: str | Path,
    study: Study,
    modality: str,
    series_uid: str,
    series_number: int = 1,
    description: str = "",
) -> list[Path]:
    """Write ``volume`` as one DICOM file per slice into ``out_dir`` (atomically, file by file).

    Args:
        volume: (X, Y, Z) values indexed (i, j, k): HU for ``"CT"``, SUV for ``"PT"``.
        affine: (4, 4) voxel index -> RAS mm.
        out_dir: folder for the files (created), named ``<k>.dcm``.
        study: the study the series belongs to.
        modality: ``"CT"`` or ``"PT"``.
        series_uid: SeriesInstanceUID.
        series_number: SeriesNumber.
        description: SeriesDescription.

    Returns:
        The written files, in slice order k.
    """
    if modality not in _SOP_CLASSES:
        raise ValueError(f"modality must be one of {sorted(_SOP_CLASSES)}, got {modality!r}")
    geometry = slice_geometry(affine, volume.shape)
    stored, slope, intercept = _stored(np.asarray(volume, dtype=np.float64), modality)
    out_dir = Path(out_dir)
    paths = []
    for k in range(volume.shape[2]):
        ds = _instance(study, modality, series_uid, series_number, description, k, stored[:, :, k].T)
        ds.ImageOrientationPatient = [round(v, 8) for v in geometry.orientation]
        ds.ImagePositionPatient = [round(float(v), 6) for v in geometry.positions[k]]
        ds.PixelSpacing = [round(v, 6) for v in geometry.pixel_spacing]
        ds.SliceThickness = round(geometry.slice_spacing, 6)
        ds.SliceLocation = round(float(geometry.positions[k] @ np.cross(
            geometry.orientation[:3], geometry.orientation[3:])), 6)
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{intercept:.10g}"
        path = out_dir / f"{k:04d}.dcm"
        write_atomically(path, lambda tmp, ds=ds: pydicom.dcmwrite(tmp, ds, write_like_original=False))
        paths.append(path)
    return paths


def sorted_datasets(datasets: Sequence[Dataset]) -> list[Dataset]:
    """The instances of one series in k order (ascending along the slice normal)."""
    order = slice_order(datasets[0].ImageOrientationPatient, [ds.ImagePositionPatient for ds in datasets])
    return [datasets[n] for n in order]


def read_series(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray, list[Dataset]]:
    """Read a single-frame series back.

    Returns:
        (X, Y, Z) float64 values after rescale, the (4, 4) RAS affine, the datasets in k order.
    """
    datasets = sorted_datasets([pydicom.dcmread(str(p)) for p in paths])
    volume = np.stack(
        [ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets], axis=-1
    )
    affine = affine_from_planes(
        datasets[0].ImageOrientationPatient, [ds.ImagePositionPatient for ds in datasets], datasets[0].PixelSpacing
    )
    return volume, affine, datasets


class SeriesError(ValueError):
    """A series that cannot be read as one volume (its message says why)."""


def check_series(datasets: Sequence[Dataset], modality: str = "CT", spacing_tolerance: float = 0.01) -> None:
    """Raise :class:`SeriesError` unless ``datasets`` form one regular volume of ``modality``.

    Checks: at least two slices, one modality and SOP class, one size, orientation and pixel
    spacing, uncompressed pixel data of the declared size, and evenly spaced, distinct slices
    (within ``spacing_tolerance`` of the spacing, relative).
    """
    if len(datasets) < 2:
        raise SeriesError(f"has {len(datasets)} instance(s); a volume needs at least 2")
    modalities = sorted({str(ds.get("Modality", "")) for ds in datasets})
    if modalities != [modality]:
        raise SeriesError(f"is {'/'.join(modalities) or 'no modality'}, not {modality}")
    for keyword in ("SOPClassUID", "Rows", "Columns", "ImageOrientationPatient", "PixelSpacing", "BitsAllocated"):
        values = {str(ds.get(keyword)) for ds in datasets}
        if len(values) != 1 or "None" in values:
            raise SeriesError(f"has {len(values)} different {keyword} values: {sorted(values)[:3]}")
    for ds in datasets:
        expected = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
        size = len(ds.get("PixelData", b"") or b"")
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            raise SeriesError(f"instance {ds.SOPInstanceUID} is compressed ({ds.file_meta.TransferSyntaxUID.name})")
        if size < expected:
            raise SeriesError(f"instance {ds.SOPInstanceUID} has {size} bytes of pixel data, {expected} expected")
    ordered = sorted_datasets(datasets)
    iop = np.asarray(ordered[0].ImageOrientationPatient, dtype=float)
    along = np.asarray([ds.ImagePositionPatient for ds in ordered], dtype=float) @ np.cross(iop[:3], iop[3:])
    steps = np.diff(along)
    if steps.min() <= 0:
        raise SeriesError("has two slices at the same position")
    if steps.max() - steps.min() > spacing_tolerance * steps.mean():
        raise SeriesError(
            f"slices are not evenly spaced (steps from {steps.min():.3f} to {steps.max():.3f} mm: a missing slice?)"
        )
