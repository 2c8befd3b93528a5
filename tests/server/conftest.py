"""A real MONAI Label server (``monailabel start_server``) on a temporary datastore, for the whole session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from monailabel.client import MONAILabelClient

from lib.phantom.datastore import write_datastore

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(client: MONAILabelClient, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            client.info()
            return
        except Exception:
            time.sleep(1.0)
    raise RuntimeError(f"server did not answer in {seconds} s:\n{log.read_text()[-4000:]}")


@dataclass
class Server:
    client: MONAILabelClient
    studies: Path
    model_dir: Path
    log: Path


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A running server with the shipped model, on a datastore of three phantoms (RAS, LPS, oblique)."""
    root = tmp_path_factory.mktemp("server")
    studies = root / "datastore"
    write_datastore(studies, cases=4, first_seed=0, labelled=3)  # RAS, LPS, oblique labelled; RAS not
    port = _free_port()
    log = root / "server.log"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MONAI_LABEL_SESSION_PATH"] = str(root / "sessions")
    command = [
        sys.executable, "-m", "monailabel.main", "start_server",
        "--app", str(REPO / "apps" / "radiotherapy"), "--studies", str(studies),
        "--host", "127.0.0.1", "--port", str(port),
        "--conf", "model_dir", str(root / "model"),
    ]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    client = MONAILabelClient(f"http://127.0.0.1:{port}", tmpdir=str(root / "client"))
    (root / "client").mkdir()
    try:
        _wait_until_up(client, process, log)
        yield Server(client, studies, root / "model", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root / "client", ignore_errors=True)
