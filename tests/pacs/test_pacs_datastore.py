"""The PACS datastore in this process, on the session's Orthanc.

A series download cut off half-way leaves nothing in the cache; the next one is whole. The cut
is real: a TCP relay on loopback between the datastore and Orthanc closes both connections after
a number of bytes of Orthanc's answer. A SEG found in the PACS becomes the final label.
"""

from __future__ import annotations

import dataclasses
import socket
import socketserver
import threading
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicomweb_client.session_utils import create_session_from_user_pass
from fastapi import HTTPException
from monailabel.datastore.dicom import DICOMwebClientX

from apps.radiotherapy.dicomweb import PacsDatastore
from apps.radiotherapy.launch import HOST
from lib.dicom.series import read_series
from lib.phantom.datastore import case_config
from lib.phantom.generate import generate_phantom
from tests.pacs.conftest import SHAPE

pytestmark = pytest.mark.slow  # Orthanc and a MONAI Label server (once per session)

CUT_AFTER_BYTES = 60_000  # a 64 x 64 x 32 int16 series is about 270 kB


class CuttingRelay(socketserver.ThreadingTCPServer):
    """Relays to ``upstream``; closes a connection once ``limit`` bytes of the answer have passed."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int], limit: int):
        self.upstream, self.limit = upstream, limit
        super().__init__((HOST, 0), _Relay)


class _Relay(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with socket.create_connection(self.server.upstream, timeout=10) as upstream:
            def forward_requests() -> None:
                try:
                    while data := self.request.recv(65536):
                        upstream.sendall(data)
                except OSError:
                    pass

            threading.Thread(target=forward_requests, daemon=True).start()
            passed = 0
            while passed < self.server.limit and (data := upstream.recv(4096)):
                self.request.sendall(data[: self.server.limit - passed])
                passed += len(data)
        self.request.shutdown(socket.SHUT_RDWR)


def datastore(url: str, pacs, cache) -> PacsDatastore:
    session = create_session_from_user_pass(pacs.orthanc.username, pacs.orthanc.password)
    return PacsDatastore(DICOMwebClientX(url=url, session=session), {"Modality": "CT"}, cache_path=str(cache))


def test_an_interrupted_download_does_not_poison_the_cache(pacs, tmp_path):
    case = pacs.cases["LPS"]
    host, port = pacs.orthanc.url.removeprefix("http://").split(":")
    relay = CuttingRelay((host, int(port)), CUT_AFTER_BYTES)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    try:
        cut = datastore(f"http://{HOST}:{relay.server_address[1]}/dicom-web", pacs, tmp_path)
        # QIDO answers are small and pass; the series itself is cut off
        with pytest.raises(HTTPException) as error:
            cut.download_series(case.ct_series_uid)
        # dicomweb-client does not always notice a cut stream: a short series is caught by its
        # instance count (503), a cut-off last instance by its pixel data size (422)
        assert error.value.status_code in (422, 503) and case.ct_series_uid in error.value.detail
        assert not cut._series_dir(case.ct_series_uid).exists()
        assert not any((tmp_path / next(tmp_path.iterdir()).name / ".partial").iterdir())
    finally:
        relay.shutdown()
        relay.server_close()
    whole = datastore(pacs.orthanc.dicomweb_url, pacs, tmp_path)
    folder = whole.download_series(case.ct_series_uid)
    volume, affine, _ = read_series(sorted(folder.glob("*.dcm")))
    expected, expected_affine, _ = read_series([f for f in case.files if "/ct/" in f])
    assert np.array_equal(volume, expected) and np.allclose(affine, expected_affine)


def test_a_seg_in_the_pacs_becomes_the_final_label_on_its_series_grid(pacs, tmp_path):
    case = pacs.cases["RAS"]  # written with its label as SEG
    store = datastore(pacs.orthanc.dicomweb_url, pacs, tmp_path)
    items = {Path(item["image"]).name: item for item in store.datalist()}
    item = items[f"{case.ct_series_uid}.nii.gz"]
    label = nib.load(item["label"])
    phantom = generate_phantom(dataclasses.replace(case_config(case.seed), shape=SHAPE))
    assert np.array_equal(np.asarray(label.dataobj), phantom.label)
    assert np.allclose(label.affine, phantom.affine, atol=1e-4)
