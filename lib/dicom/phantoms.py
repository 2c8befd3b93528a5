"""Command line: write generated phantoms as DICOM studies (CT, PET for PET-CT, labels as SEG).

    python -m lib.dicom.phantoms --out build/dicom --cases 3 [--pet] [--labelled 2]

Each case ``<out>/phantom_<seed>/`` holds ``ct/*.dcm``, with ``--pet`` also ``pet/*.dcm`` (same
frame of reference and grid), and for the first ``--labelled`` cases ``seg.dcm`` (the final
label: 1 = gtv, 2 = heart). Headers cycle through RAS, LPS and oblique like the NIfTI datastore
(``lib.phantom.datastore``); UIDs are derived from the seed, so the same command writes the same
studies. ``<out>/manifest.json`` lists each case's UIDs and orientation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pydicom

from lib.atomic import write_atomically
from lib.dicom.seg import label_to_seg
from lib.dicom.series import Study, deterministic_uid, write_series
from lib.labels import relabel
from lib.phantom.config import LABELS as PHANTOM_LABELS
from lib.phantom.datastore import case_config
from lib.phantom.generate import generate_phantom


@dataclass(frozen=True)
class DicomCase:
    """Where one written study is and what identifies it.

    Attributes:
        name: ``phantom_<seed>``.
        seed: the phantom's seed.
        orientation: ``RAS``, ``LPS`` or ``oblique``.
        study_uid: StudyInstanceUID.
        ct_series_uid: SeriesInstanceUID of the CT.
        pet_series_uid: SeriesInstanceUID of the PET, or ``""``.
        seg_series_uid: SeriesInstanceUID of the label's SEG, or ``""``.
        files: every written file (CT, then PET, then the SEG).
    """

    name: str
    seed: int
    orientation: str
    study_uid: str
    ct_series_uid: str
    pet_series_uid: str
    seg_series_uid: str
    files: tuple[str, ...]


def write_case(
    seed: int, out: str | Path, pet: bool = False, labelled: bool = True, shape: tuple[int, int, int] | None = None
) -> DicomCase:
    """Write phantom ``seed`` as one DICOM study under ``out/phantom_<seed>``.

    ``shape`` overrides the phantom's voxel count (same spacing: a smaller field of view), for fast tests.
    """
    config = case_config(seed, pet=pet)
    if shape is not None:
        config = dataclasses.replace(config, shape=tuple(shape))
    phantom = generate_phantom(config)
    name = f"phantom_{seed:04d}"
    root = Path(out) / name
    study = Study(
        study_uid=deterministic_uid("phantom", seed, "study"),
        frame_of_reference_uid=deterministic_uid("phantom", seed, "frame"),
        patient_id=name,
        patient_name=f"Phantom^{seed:04d}",
        accession=f"RT{seed:04d}",
    )
    ct_uid = deterministic_uid("phantom", seed, "ct")
    files = write_series(
        phantom.image[0], phantom.affine, root / "ct", study, "CT", ct_uid, 1, f"CT {config.orientation}"
    )
    pet_uid = seg_uid = ""
    if pet:
        pet_uid = deterministic_uid("phantom", seed, "pet")
        files += write_series(phantom.image[1], phantom.affine, root / "pet", study, "PT", pet_uid, 2, "PET SUV")
    if labelled:
        label = relabel(phantom.label, PHANTOM_LABELS)  # the phantom's values -> the app's, by name
        seg = label_to_seg(label, [pydicom.dcmread(str(f)) for f in files[: config.shape[2]]],
                           series_number=100, description="final label", seed=("phantom", seed))
        seg_uid = str(seg.SeriesInstanceUID)
        files.append(write_atomically(root / "seg.dcm", lambda tmp: seg.save_as(tmp)))
    return DicomCase(name, seed, config.orientation, study.study_uid, ct_uid, pet_uid, seg_uid,
                     tuple(str(f) for f in files))


def write_cases(
    out: str | Path, cases: int, first_seed: int = 0, pet: bool = False, labelled: int | None = None,
    shape: tuple[int, int, int] | None = None,
) -> list[DicomCase]:
    """Write ``cases`` studies (the first ``labelled`` with a SEG; default all) and ``manifest.json``."""
    labelled = cases if labelled is None else labelled
    written = [write_case(first_seed + n, out, pet, n < labelled, shape) for n in range(cases)]
    write_atomically(Path(out) / "manifest.json",
                     lambda tmp: tmp.write_text(json.dumps([asdict(c) for c in written], indent=1)))
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the studies (created)")
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--pet", action="store_true", help="also write a PET series per study (PET-CT)")
    parser.add_argument("--labelled", type=int, help="only the first N studies get a SEG (default: all)")
    args = parser.parse_args(argv)
    written = write_cases(args.out, args.cases, args.first_seed, args.pet, args.labelled)
    print(f"{len(written)} DICOM studies in {args.out}")


if __name__ == "__main__":
    main()
