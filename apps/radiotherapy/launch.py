"""Start this app in a real ``monailabel start_server`` subprocess on a free port, and wait for it.

    with start_server(APP_DIR, studies, {"models": "gaussian_click"}, root / "server.log") as server:
        MONAILabelClient(server.url).info()

For the server tests and the benchmarks: the server runs with this Python (its ``bin`` first
on ``PATH``), from the repository root, its output in ``log_path``. ``start_server`` returns
once ``/info/`` answers, and raises with the log's tail if the server exits or does not
answer in time. ``lib/`` never imports this module.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
REPO_ROOT = APP_DIR.parents[1]
HOST = "127.0.0.1"
LOG_TAIL_CHARS = 4000


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    """A ``monailabel start_server`` process that answers; a context manager that stops it.

    Attributes:
        url: the server's base URL, ``http://<host>:<port>``.
        process: the server's process.
        log_path: the file that gets the server's stdout and stderr.
    """

    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The last ``chars`` characters of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as error:
            return f"(no log: {error})"

    def answers(self) -> bool:
        """Whether ``/info/`` answers with HTTP 200 now (or 401: up, with authentication on)."""
        try:
            with urllib.request.urlopen(f"{self.url}/info/", timeout=10) as response:
                return response.status == 200
        except urllib.error.HTTPError as error:
            return error.code == 401
        except OSError:  # refused, reset, timed out (URLError is an OSError)
            return False

    def wait_until_up(self, timeout_s: float) -> None:
        """Return when ``/info/`` answers.

        Args:
            timeout_s: how long to wait, in seconds.

        Raises:
            RuntimeError: the server exited, or did not answer in ``timeout_s``; with the log's tail.
        """
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.answers():
                return
            time.sleep(1.0)
        raise RuntimeError(f"server did not answer in {timeout_s} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30) -> None:
        """Terminate the server and its children (MONAI Label's training process among them);
        kill them if the server has not exited after ``timeout_s`` seconds."""
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._signal_group(signal.SIGKILL)  # children that outlived the server

    def kill(self) -> None:
        """SIGKILL the server and every process it started, as a crash or power cut would."""
        self._signal_group(signal.SIGKILL)
        self.process.wait()

    def _signal_group(self, number: int) -> None:
        try:
            os.killpg(self.process.pid, number)  # the server leads its own process group
        except ProcessLookupError:
            pass

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(
    app_dir: str | os.PathLike,
    studies: str | os.PathLike,
    conf: Mapping[str, object],
    log_path: str | os.PathLike,
    port: int | None = None,
    env_extra: Mapping[str, str] | None = None,
    timeout_s: float = 180,
) -> RunningServer:
    """Start ``monailabel start_server`` on ``127.0.0.1`` and wait until ``/info/`` answers.

    Args:
        app_dir: the MONAI Label app (usually :data:`APP_DIR`).
        studies: the datastore folder.
        conf: ``--conf`` options, in order (values are passed as strings), e.g.
            ``{"models": "gaussian_click", "model_dir": root / "model"}``.
        log_path: the file for the server's stdout and stderr (overwritten).
        port: the port to serve on; None picks a free one.
        env_extra: variables added to this process's environment for the server, e.g.
            ``{"MONAI_LABEL_SESSION_PATH": ...}``.
        timeout_s: how long to wait for ``/info/``, in seconds.

    Returns:
        The running server; use it as a context manager, or call ``stop()``.

    Raises:
        RuntimeError: the server exited or did not answer in time (it is stopped); with the log's tail.
    """
    port = free_port() if port is None else port
    log_path = Path(log_path)
    env = {**os.environ, **(env_extra or {})}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [
        sys.executable, "-m", "monailabel.main", "start_server",
        "--app", str(app_dir), "--studies", str(studies),
        "--host", HOST, "--port", str(port),
    ]
    for name, value in conf.items():
        command += ["--conf", name, str(value)]
    with open(log_path, "w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True
        )
    server = RunningServer(f"http://{HOST}:{port}", process, log_path)
    try:
        server.wait_until_up(timeout_s)
    except BaseException:
        server.stop()
        raise
    return server
