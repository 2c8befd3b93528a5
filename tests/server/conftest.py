"""A real MONAI Label server (``monailabel start_server``) on a temporary datastore, for the whole session."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from monailabel.client import MONAILabelClient

from apps.radiotherapy.launch import APP_DIR, RunningServer, start_server
from lib.phantom.datastore import write_datastore


@contextmanager
def serving(root: Path, studies: Path, conf: Mapping[str, object]) -> Iterator[tuple[MONAILabelClient, RunningServer]]:
    """The app served on ``studies`` with ``conf``, and a client for it; stopped and cleaned up on exit.

    Args:
        root: a temporary folder for the server's log (``server.log``), its sessions and the client's downloads.
        studies: the datastore folder.
        conf: the server's ``--conf`` options.

    Yields:
        The client, and the running server.
    """
    (root / "client").mkdir()
    try:
        with start_server(
            APP_DIR, studies, conf, root / "server.log",
            env_extra={"MONAI_LABEL_SESSION_PATH": str(root / "sessions")},
        ) as running:
            yield MONAILabelClient(running.url, tmpdir=str(root / "client")), running
    finally:
        shutil.rmtree(root / "client", ignore_errors=True)


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
    with serving(root, studies, {"model_dir": root / "model"}) as (client, running):
        yield Server(client, studies, root / "model", running.log_path)


#: How long a test waits for a line in a server's log, s.
WAIT_S = 240


def wait_for(log: Path, text: str, timeout_s: float = WAIT_S) -> str:
    """The server's log once it holds ``text``; AssertionError with the log's tail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while text not in (content := log.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"no {text!r} in the log after {timeout_s} s:\n{content[-3000:]}"
        time.sleep(0.5)
    return content
