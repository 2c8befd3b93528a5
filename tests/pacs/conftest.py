"""One Orthanc PACS with phantom studies and one MONAI Label server on it, for the whole session.

Studies (64 x 64 x 32 voxels, 3 x 3 x 6 mm, so that an inference is quick): seed 0 RAS with
its label as SEG, seed 1 LPS, seed 2 oblique with a PET series, and a CT series with one
slice missing (corrupt as a volume).
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from monailabel.client import MONAILabelClient

from apps.radiotherapy.launch import APP_DIR, RunningServer, start_server
from apps.radiotherapy.pacs import RunningOrthanc, start_orthanc
from lib.dicom.phantoms import DicomCase, write_case
from lib.dicom.series import Study, deterministic_uid, write_series
from lib.phantom.datastore import case_config
from lib.phantom.generate import generate_phantom

SHAPE = (64, 64, 32)


@dataclass
class Pacs:
    orthanc: RunningOrthanc
    server: RunningServer
    client: MONAILabelClient
    cases: dict[str, DicomCase]  # by orientation
    corrupt_series_uid: str
    cache: Path

    def server_log(self) -> str:
        return self.server.log_path.read_text(errors="replace")


def write_gap_series(out: Path) -> tuple[str, list[Path]]:
    """A CT series of phantom 3 whose slice 10 is missing; returns its UID and files."""

    phantom = generate_phantom(dataclasses.replace(case_config(3), shape=SHAPE))
    study = Study(deterministic_uid("gap", "study"), deterministic_uid("gap", "frame"), "gap", "Gap^Series")
    uid = deterministic_uid("gap", "ct")
    files = write_series(phantom.image[0], phantom.affine, out, study, "CT", uid, 1, "CT with a missing slice")
    files[10].unlink()
    return uid, files[:10] + files[11:]


def pacs_env(orthanc: RunningOrthanc, root: Path, password: str | None = None) -> dict[str, str]:
    """The server's environment for this PACS: credentials, DICOMweb cache and session folders."""
    return {
        "MONAI_LABEL_DICOMWEB_USERNAME": orthanc.username,
        "MONAI_LABEL_DICOMWEB_PASSWORD": password or orthanc.password,
        "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(root / "cache"),
        "MONAI_LABEL_SESSION_PATH": str(root / "sessions"),
    }


@pytest.fixture(scope="session")
def pacs(tmp_path_factory) -> Pacs:
    root = tmp_path_factory.mktemp("pacs")
    cases = {}
    for seed, pet in ((0, False), (1, False), (2, True)):
        case = write_case(seed, root / "dicom", pet=pet, labelled=seed == 0, shape=SHAPE)
        cases[case.orientation] = case
    gap_uid, gap_files = write_gap_series(root / "dicom" / "gap")
    with start_orthanc(root / "orthanc") as orthanc:
        for case in cases.values():
            orthanc.upload(case.files)
        orthanc.upload(gap_files)
        with start_server(
            APP_DIR, orthanc.dicomweb_url, {"models": "segmentation,gaussian_click", "model_dir": root / "model"},
            root / "server.log", env_extra=pacs_env(orthanc, root),
        ) as server:
            (root / "client").mkdir()
            yield Pacs(orthanc, server, MONAILabelClient(server.url, tmpdir=str(root / "client")), cases, gap_uid,
                       root / "cache")
    shutil.rmtree(root / "client", ignore_errors=True)
