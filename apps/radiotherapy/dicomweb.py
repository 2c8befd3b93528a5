"""The app on a PACS: a DICOMweb datastore that caches safely, checks series and saves DICOM SEG.

    monailabel start_server --app apps/radiotherapy --studies http://127.0.0.1:8042/dicom-web

MONAI Label 0.8.5's ``DICOMWebDatastore`` downloads a series straight into its cache folder
(an interrupted download is taken as complete from then on), converts whatever it got, writes
SEGs with dcmqi (fetched from GitHub at start) and answers an unreachable PACS with HTTP 500.
:class:`PacsDatastore` keeps its listing and caching layout and changes what goes wrong:

- a series is downloaded into a temporary folder, checked (``lib.dicom.series.check_series``)
  and converted, and only then moved into the cache: a cached series is always a whole one;
- a series that is not CT, or is corrupt, gets a 4xx naming it; an unreachable PACS a 503,
  a PACS that refuses the app's credentials a 502;
- a ``final`` label becomes a DICOM SEG written by highdicom (``lib.dicom.seg``) in the source
  study, stored in the PACS over STOW-RS, and the datastore's final label (for training and
  active learning); a SEG found in the PACS is read back onto its series' grid the same way.

Credentials come from MONAI Label's settings (``MONAI_LABEL_DICOMWEB_USERNAME`` / ``_PASSWORD``);
:func:`open_pacs_datastore` checks them at start and stops the server with a clear message.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import requests
from dicomweb_client.session_utils import create_session_from_user_pass
from fastapi import HTTPException
from monailabel.config import settings
from monailabel.datastore.dicom import DICOMwebClientX, DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.datastore import DefaultLabelTag
from pydicom.dataset import Dataset

from lib.dicom.seg import label_to_seg, seg_to_label
from lib.dicom.series import SeriesError, check_series, read_series
from lib.labels import LABELS
from lib.phantom.io import save_nifti_atomic

logger = logging.getLogger(__name__)

#: A DICOM UID: digits and dots, at most 64 characters.
UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PARTIAL_DIR = ".partial"
#: The geometry of a saved label may differ from its image's by this much (mm, affine entries).
AFFINE_TOLERANCE_MM = 1e-3
SEG_SERIES_NUMBER = 300
#: Attempts per DICOMweb request (dicomweb-client's default is 5, with 2 + 4 + 8 + 16 s between them).
PACS_ATTEMPTS = 2


def is_dicomweb(studies: str) -> bool:
    """Whether ``--studies`` names a DICOMweb server rather than a folder."""
    return studies.startswith(("http://", "https://"))


class PacsError(HTTPException):
    """An answer from the PACS that the client should see as 502 / 503 (it names the PACS)."""


def pacs_call(url: str, call: Callable[[], Any]) -> Any:
    """Run ``call`` (a DICOMweb request); turn network and PACS failures into 502 / 503 answers.

    Raises:
        PacsError: 503 when the PACS cannot be reached or times out, 502 when it refuses
            the credentials or answers with a server error.
    """
    try:
        return call()
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
        reason = type(error).__name__
        raise PacsError(503, f"the PACS at {url} cannot be reached ({reason}); try again later") from error
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if status in (401, 403):
            raise PacsError(502, f"the PACS at {url} refused the app's credentials (HTTP {status})") from error
        if status == 404:
            raise HTTPException(404, f"not found in the PACS at {url}: {error.request.url if error.request else ''}") from error
        raise PacsError(502, f"the PACS at {url} answered HTTP {status}") from error


def check_credentials(url: str, session: requests.Session | None) -> None:
    """Ask the PACS for one study; raise a clear ``RuntimeError`` if it cannot be used.

    Raises:
        RuntimeError: unreachable, credentials refused (names the settings to fix), or an error answer.
    """
    try:
        response = (session or requests).get(f"{url}/studies", params={"limit": "1"}, timeout=10)
    except requests.RequestException as error:
        raise RuntimeError(f"cannot reach the DICOMweb server at {url}: {error}") from error
    if response.status_code in (401, 403):
        who = "no username/password was given" if session is None else "the username/password were refused"
        raise RuntimeError(
            f"the DICOMweb server at {url} answered HTTP {response.status_code}: {who}; set "
            "MONAI_LABEL_DICOMWEB_USERNAME and MONAI_LABEL_DICOMWEB_PASSWORD to a user of that server"
        )
    if response.status_code >= 400:
        raise RuntimeError(f"the DICOMweb server at {url} answered HTTP {response.status_code}: {response.text[:200]}")


class PacsDatastore(DICOMWebDatastore):
    """MONAI Label's DICOMweb datastore with whole-series caching, series checks and highdicom SEGs."""

    def __init__(self, client: DICOMwebClientX, search_filter: dict, cache_path: str | None = None):
        # dicomweb-client retries every failed request 5 times with exponential back-off (30 s
        # before a down PACS is reported); one retry after 0.5 s keeps a 503 prompt.
        client.set_http_retry_params(retry=True, max_attempts=PACS_ATTEMPTS, wait_exponential_multiplier=250)
        super().__init__(client, search_filter, cache_path=cache_path, fetch_by_frame=False, convert_to_nifti=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.downloads = 0  # series downloaded by this process (for tests and benchmarks)

    # --- where things are -------------------------------------------------------------
    def _series_dir(self, series_uid: str) -> Path:
        return Path(self._datastore.image_path()) / series_uid

    def _nifti(self, series_uid: str) -> Path:
        return Path(self._datastore.image_path()) / f"{series_uid}.nii.gz"

    def _lock(self, series_uid: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(series_uid, threading.Lock())

    def _pacs(self, call: Callable[[], Any]) -> Any:
        return pacs_call(self._client.base_url, call)

    # --- series ---------------------------------------------------------------------------
    def series_meta(self, series_uid: str) -> Dataset:
        """The PACS's series-level attributes of ``series_uid``.

        Raises:
            HTTPException: 422 for a malformed UID, 404 when the PACS has no such series.
        """
        if not isinstance(series_uid, str) or len(series_uid) > 64 or not UID_PATTERN.match(series_uid):
            raise HTTPException(422, f"image id {series_uid!r} is not a DICOM SeriesInstanceUID")
        found = self._pacs(lambda: self._client.search_for_series(search_filters={"SeriesInstanceUID": series_uid}))
        found = [Dataset.from_json(s) for s in found]
        found = [s for s in found if str(s.get("SeriesInstanceUID", "")) == series_uid]
        if not found:
            raise HTTPException(404, f"series {series_uid} is not in the PACS at {self._client.base_url}")
        return found[0]

    def check_image(self, image_id: object) -> None:
        """Raise a 4xx naming ``image_id`` unless it is a series of the listed modality (uncached ones are asked)."""
        if not isinstance(image_id, str) or os.path.exists(image_id) or self._nifti(image_id).exists():
            return  # an uploaded file, or a series already checked and cached
        modality = str(self._search_filter.get("Modality", "CT"))
        found = str(self.series_meta(image_id).get("Modality", ""))
        if found != modality:
            raise HTTPException(
                422, f"series {image_id} is {found or 'of no modality'}, not {modality}: it cannot be segmented"
            )

    def download_series(self, series_uid: str, modality: str = "CT") -> Path:
        """Fetch ``series_uid`` into the cache unless it is there; return its folder.

        The instances are written to a temporary folder, checked as one volume of ``modality``
        and only then renamed into place, so an interrupted or refused download leaves no trace.

        Raises:
            HTTPException: 404 unknown series, 422 a series that is not ``modality`` or is
                corrupt (naming it), 502 / 503 PACS failures.
        """
        target = self._series_dir(series_uid)
        if target.is_dir() and any(target.iterdir()):
            return target
        meta = self.series_meta(series_uid)
        study_uid = str(meta.StudyInstanceUID)
        partial_root = Path(self._datastore.image_path()) / PARTIAL_DIR
        partial_root.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f"{series_uid}-", dir=partial_root))
        try:
            start = time.time()
            instances = self._pacs(lambda: self._client.retrieve_series(study_uid, series_uid))
            expected = meta.get("NumberOfSeriesRelatedInstances")
            if expected is not None and len(instances) != int(expected):
                raise PacsError(503, f"the download of series {series_uid} was cut short: {len(instances)} of "
                                     f"{int(expected)} instances; try again")
            try:
                check_series(instances, modality)
            except SeriesError as error:
                raise HTTPException(422, f"series {series_uid} {error}") from error
            for ds in instances:
                ds.save_as(str(partial / f"{ds.SOPInstanceUID}.dcm"))
            os.replace(partial, target)
            self.downloads += 1
            logger.info(f"downloaded series {series_uid}: {len(instances)} instances in {time.time() - start:.2f} s")
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return target

    def source_datasets(self, series_uid: str) -> list[Dataset]:
        """The cached instances of a series (downloaded first if needed)."""
        folder = self.download_series(series_uid)
        return [pydicom.dcmread(str(p)) for p in sorted(folder.glob("*.dcm"))]

    def get_image_uri(self, image_id: str) -> str:
        """The cached NIfTI of series ``image_id`` (downloaded, checked and converted on first use)."""
        nifti = self._nifti(image_id)
        if nifti.exists():
            return str(nifti.resolve())
        with self._lock(image_id):
            if not nifti.exists():
                folder = self.download_series(image_id)
                volume, affine, _ = read_series(sorted(folder.glob("*.dcm")))
                with tempfile.TemporaryDirectory() as tmp:
                    converted = save_nifti_atomic(volume.astype(np.float32), affine, Path(tmp) / f"{image_id}.nii.gz")
                    LocalDatastore.add_image(self, image_id, str(converted), self._dicom_info(image_id))
        return str(nifti.resolve())

    def _dicom_info(self, series_id: str) -> dict:
        return self._pacs(lambda: super(PacsDatastore, self)._dicom_info(series_id))

    def list_images(self) -> list[str]:
        return self._pacs(super().list_images)

    def get_labeled_images(self, label_tag: str | None = None, labels: list[str] | None = None) -> list[str]:
        return self._pacs(lambda: super(PacsDatastore, self).get_labeled_images(label_tag, labels))

    def datalist(self, full_path: bool = True) -> list[dict[str, Any]]:
        return self._pacs(lambda: super(PacsDatastore, self).datalist(full_path))

    # --- labels ---------------------------------------------------------------------------
    def read_label(
        self, image_id: str, label_filename: str, label_info: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """A saved label as an (X, Y, Z) uint8 array of ``LABELS`` values, and its image's affine.

        ``.bin`` is raw uint8 in the image's voxel order, i fastest (what OHIF sends); with
        ``label_info`` ``[{"name": "gtv", "idx": 3}, ...]`` the values ``idx`` are renamed to the
        app's values of those names. NIfTI must have the image's shape and affine.

        Raises:
            HTTPException: 422 naming what does not fit.
        """
        image = nib.load(self.get_image_uri(image_id))
        shape, affine = image.shape[:3], image.affine
        if label_filename.endswith(".bin"):
            raw = np.fromfile(label_filename, dtype=np.uint8)
            if raw.size != int(np.prod(shape)):
                voxels = int(np.prod(shape))
                raise HTTPException(422, f"label has {raw.size} voxels; series {image_id} has {shape} = {voxels}")
            label = raw.reshape(shape, order="F")
        else:
            try:
                stored = nib.load(label_filename)
            except Exception as error:  # nibabel raises several types for unreadable files
                raise HTTPException(422, f"label is not a readable NIfTI file: {error}") from error
            if stored.shape[:3] != shape or not np.allclose(stored.affine, affine, atol=AFFINE_TOLERANCE_MM):
                raise HTTPException(422, f"label grid {stored.shape} differs from series {image_id}'s {shape} / affine")
            label = np.asarray(stored.dataobj).reshape(shape).astype(np.int64)
        return self._renamed(label, label_info, image_id), affine

    @staticmethod
    def _renamed(label: np.ndarray, label_info: dict[str, Any], image_id: str) -> np.ndarray:
        items = label_info.get("label_info") if isinstance(label_info, dict) else None
        out = np.zeros(label.shape, dtype=np.uint8)
        if items:
            for item in items:
                name, idx = item.get("name"), item.get("idx")
                if name not in LABELS or not isinstance(idx, int):
                    raise HTTPException(
                        422, f"label_info entry {item} is not one of {sorted(LABELS)} with an integer idx"
                    )
                out[label == idx] = LABELS[name]
            return out
        unknown = sorted(set(np.unique(label).tolist()) - {0, *LABELS.values()})
        if unknown:
            raise HTTPException(422, f"label for series {image_id} holds values {unknown}; allowed {dict(LABELS)}")
        return label.astype(np.uint8)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   label_id: str = "") -> str:
        """Keep a label; a ``final`` one also goes to the PACS as a DICOM SEG in the source study."""
        label, affine = self.read_label(image_id, label_filename, label_info or {})
        label_info = dict(label_info or {})
        label_info.pop("label_info", None)
        if label_tag == DefaultLabelTag.FINAL:
            source = self.source_datasets(image_id)
            try:
                seg = label_to_seg(label, source, series_number=SEG_SERIES_NUMBER,
                                   description=f"MONAI Label final {label_info.get('model', '')}".strip())
            except ValueError as error:
                raise HTTPException(422, f"label for series {image_id}: {error}") from error
            self._pacs(lambda: self._client.store_instances([seg]))
            label_info.update({"SeriesInstanceUID": str(seg.SeriesInstanceUID), "Modality": "SEG",
                               "StudyInstanceUID": str(seg.StudyInstanceUID)})
            logger.info(f"stored SEG {seg.SeriesInstanceUID} for series {image_id} in the PACS")
        with tempfile.TemporaryDirectory() as tmp:
            path = save_nifti_atomic(label, affine, Path(tmp) / f"{image_id}.nii.gz")
            return LocalDatastore.save_label(self, image_id, str(path), label_tag, label_info)

    def get_label_uri(self, label_id: str, label_tag: str, image_id: str = "") -> str:
        """The datastore's label; a final label found only in the PACS (a SEG) is read onto its image's grid."""
        if label_tag != DefaultLabelTag.FINAL or not image_id:
            return LocalDatastore.get_label_uri(self, label_id, label_tag)
        local = Path(self._datastore.label_path(DefaultLabelTag.FINAL)) / f"{image_id}.nii.gz"
        if not local.exists():
            seg_meta = self.series_meta(label_id)
            instances = self._pacs(lambda: self._client.retrieve_series(str(seg_meta.StudyInstanceUID), label_id))
            label = seg_to_label(instances[0], self.source_datasets(image_id))
            affine = nib.load(self.get_image_uri(image_id)).affine
            with tempfile.TemporaryDirectory() as tmp:
                path = save_nifti_atomic(label, affine, Path(tmp) / f"{image_id}.nii.gz")
                LocalDatastore.save_label(self, image_id, str(path), label_tag, {"SeriesInstanceUID": label_id})
        return str(local.resolve())


def open_pacs_datastore(studies: str) -> PacsDatastore:
    """The datastore for ``--studies <DICOMweb URL>``, after checking that the PACS accepts the app.

    Raises:
        RuntimeError: the PACS cannot be reached or refuses the credentials (the message says
            which settings to fix); the server does not start.
    """
    url = studies.rstrip("/")
    session = None
    if settings.MONAI_LABEL_DICOMWEB_USERNAME and settings.MONAI_LABEL_DICOMWEB_PASSWORD:
        session = create_session_from_user_pass(settings.MONAI_LABEL_DICOMWEB_USERNAME,
                                                settings.MONAI_LABEL_DICOMWEB_PASSWORD)
    try:
        check_credentials(url, session)
    except RuntimeError as error:
        logger.error(f"PACS: {error}")
        raise
    client = DICOMwebClientX(url=url, session=session, qido_url_prefix=settings.MONAI_LABEL_QIDO_PREFIX,
                             wado_url_prefix=settings.MONAI_LABEL_WADO_PREFIX,
                             stow_url_prefix=settings.MONAI_LABEL_STOW_PREFIX)
    cache = (settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip() or None
    logger.info(f"PACS datastore on {url} (cache {cache or 'default'}); SEGs written with highdicom")
    return PacsDatastore(client, settings.MONAI_LABEL_DICOMWEB_SEARCH_FILTER, cache_path=cache)


async def _pacs_unreachable(request, error: requests.RequestException):
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=503, content={"detail": f"the PACS cannot be reached: {type(error).__name__}"})


def install_pacs_errors(app) -> None:
    """Answer a PACS that cannot be reached from any route (OHIF's DICOMweb proxy too) with 503."""
    app.add_exception_handler(requests.ConnectionError, _pacs_unreachable)
    app.add_exception_handler(requests.Timeout, _pacs_unreachable)
    app.middleware_stack = None
