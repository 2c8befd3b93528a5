"""A real Orthanc PACS for the app: its config written here, started on loopback, stopped with it.

    with start_orthanc(root) as pacs:          # Debian's orthanc + orthanc-dicomweb
        pacs.upload(paths)                     # DICOM files, through Orthanc's REST API
        pacs.dicomweb_url                      # http://127.0.0.1:<port>/dicom-web

Orthanc runs as a child process (not as the system service) with its own storage folder,
DICOMweb on, remote access off, HTTP authentication on with a generated user and password,
and free ports. ``lib/`` never imports this module.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from apps.radiotherapy.launch import HOST, free_port

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
INSTALL_HINT = "apt-get install orthanc orthanc-dicomweb"


def orthanc_config(root: Path, http_port: int, dicom_port: int, username: str, password: str) -> dict:
    """Orthanc's configuration: storage under ``root``, DICOMweb on, loopback only, one user."""
    return {
        "Name": "radiotherapy-pacs",
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "RTPACS",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {username: password},
        "HttpServerEnabled": True,
        "HttpDescribeErrors": True,
        "StorageCompression": False,
        "SaveJobs": False,
        "ConcurrentJobs": 1,
        "HttpThreadsCount": 8,
        "KeepAliveTimeout": 1,  # seconds: a stop does not wait long for idle client connections
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado",
                     "Ssl": False, "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }


@dataclass
class RunningOrthanc:
    """An Orthanc process that answers; a context manager that stops it.

    Attributes:
        url: Orthanc's REST root, ``http://127.0.0.1:<port>``.
        username, password: the one registered user.
        process: the Orthanc process.
        root: its folder (config, storage, log).
    """

    url: str
    username: str
    password: str
    process: subprocess.Popen
    root: Path

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb root to give ``monailabel start_server --studies``."""
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    @property
    def log_path(self) -> Path:
        return self.root / "orthanc.log"

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET ``path`` of the REST API with the credentials; raises on HTTP errors."""
        response = requests.get(f"{self.url}{path}", auth=self.auth, timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def upload(self, paths: Iterable[str | Path]) -> list[str]:
        """Store DICOM files (POST /instances); return Orthanc's instance ids.

        Raises:
            requests.HTTPError: Orthanc refused a file (not DICOM, ...).
        """
        ids = []
        for path in paths:
            response = requests.post(f"{self.url}/instances", data=Path(path).read_bytes(), auth=self.auth, timeout=60)
            response.raise_for_status()
            ids.append(response.json()["ID"])
        return ids

    def series(self, modality: str | None = None) -> list[dict]:
        """Every series (Orthanc's expanded JSON), optionally only those of ``modality``."""
        found = self.get("/series", params={"expand": ""}).json()
        return [s for s in found if modality is None or s["MainDicomTags"].get("Modality") == modality]

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/system", auth=self.auth, timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, timeout_s: float = 20) -> None:
        """Stop Orthanc (SIGTERM, then SIGKILL after ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> RunningOrthanc:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_orthanc(
    root: str | os.PathLike,
    port: int | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 30,
) -> RunningOrthanc:
    """Write Orthanc's config under ``root`` and start it on ``127.0.0.1``; return once it answers.

    Args:
        root: folder for ``orthanc.json``, ``storage/`` and ``orthanc.log`` (created).
        port: HTTP port; None picks a free one (the DICOM port is always picked free).
        username, password: the registered user; generated when None.
        timeout_s: how long to wait for ``/system``, in seconds.

    Raises:
        FileNotFoundError: Orthanc or its DICOMweb plugin is not installed (with the apt command).
        RuntimeError: Orthanc exited or did not answer in time; with its log's tail.
    """
    if not Path(ORTHANC).exists() or not DICOMWEB_PLUGIN.exists():
        raise FileNotFoundError(f"Orthanc with DICOMweb is not installed: {INSTALL_HINT}")
    root = Path(root)
    (root / "storage").mkdir(parents=True, exist_ok=True)
    username = username or "rt-" + secrets.token_hex(4)
    password = password or secrets.token_urlsafe(18)
    port = port or free_port()
    config = orthanc_config(root, port, free_port(), username, password)
    config_path = root / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=1))
    config_path.chmod(0o600)  # holds the password
    with open(root / "orthanc.log", "w") as log:
        process = subprocess.Popen([ORTHANC, str(config_path)], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    orthanc = RunningOrthanc(f"http://{HOST}:{port}", username, password, process, root)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {process.returncode}:\n{orthanc.log_path.read_text()[-3000:]}")
        if orthanc.answers():
            return orthanc
        time.sleep(0.2)
    orthanc.stop()
    raise RuntimeError(f"Orthanc did not answer in {timeout_s} s:\n{orthanc.log_path.read_text()[-3000:]}")
