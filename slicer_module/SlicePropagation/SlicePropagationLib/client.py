"""The HTTP client: MONAI Label's ``/info``, ``/datastore`` and ``/infer`` routes, with timeouts.

Uses only ``requests`` and the standard library (what 3D Slicer bundles). Every failure a
user can meet - server down, a timeout, a 4xx / 5xx with the server's message - is one
:class:`ServerError` whose text names what went wrong; the Widget shows it once.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import os
import re
import uuid
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
#: Seconds to connect, and to wait for an answer (propagation on a CPU takes seconds).
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0
Progress = Callable[[float], None]


class ServerError(Exception):
    """A request that did not succeed; ``str()`` says why, ``status`` is the HTTP code (None: no answer)."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


def normalise_url(text: Optional[str]) -> str:
    """A server address as typed (``host:port``, ``:8000``, with or without scheme) -> ``http://host:port``."""
    text = (text or "").strip()
    if not text:
        return DEFAULT_URL
    if text.startswith(":") or text.isdigit():
        text = "127.0.0.1:" + text.lstrip(":")
    if not re.match(r"^https?://", text):
        text = "http://" + text
    return text.rstrip("/")


def error_message(response: requests.Response) -> str:
    """The server's own words about a failed request (FastAPI's ``detail``), else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason or "no message"
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # request validation errors: [{"loc": [...], "msg": ...}]
            return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
        return str(detail)
    return json.dumps(body)[:500]


class _ProgressReader(io.BytesIO):
    """A request body that reports how much of it was sent (0..1)."""

    def __init__(self, data: bytes, progress: Optional[Progress]):
        super().__init__(data)
        self._size = max(1, len(data))
        self._progress = progress

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        chunk = super().read(size)
        if self._progress is not None:
            self._progress(min(1.0, self.tell() / self._size))
        return chunk

    def __len__(self) -> int:
        return self._size


def multipart(fields: Dict[str, str], files: Dict[str, str]) -> Tuple[bytes, str]:
    """A multipart/form-data body and its content type: text ``fields``, ``files`` as ``{name: path}``."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode())
    for name, path in files.items():
        with open(path, "rb") as f:
            data = f.read()
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{os.path.basename(path)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data)
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def split_multipart(content: bytes, content_type: str) -> Tuple[Dict[str, Any], Optional[Tuple[str, bytes]]]:
    """An /infer answer (multipart: ``params`` JSON and an ``image`` file) -> (result, (file name, bytes))."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + content
    )
    result: Dict[str, Any] = {}
    image = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "params":
            result = json.loads(payload.decode() or "{}")
        elif name in ("image", "file"):
            image = (part.get_filename() or "answer.nii.gz", payload)
    return result, image


class MonaiLabelClient:
    """The few MONAI Label requests the module makes.

    Args:
        url: the server's address (normalised with :func:`normalise_url`).
        timeout_s: (connect, read) seconds for every request.
    """

    def __init__(self, url: Optional[str] = None, timeout_s: Tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)):
        self.url = normalise_url(url)
        self.timeout_s = timeout_s

    def _request(self, method: str, selector: str, **kwargs: Any) -> requests.Response:
        try:
            response = requests.request(method, self.url + selector, timeout=self.timeout_s, **kwargs)
        except requests.exceptions.ConnectTimeout as error:
            raise ServerError(f"cannot reach the server at {self.url}: no connection in {self.timeout_s[0]:g} s") from error
        except requests.exceptions.ConnectionError as error:
            raise ServerError(f"cannot reach the server at {self.url} (is it running?): {error}") from error
        except requests.exceptions.Timeout as error:
            raise ServerError(f"the server at {self.url} did not answer in {self.timeout_s[1]:g} s") from error
        if response.status_code >= 400:
            raise ServerError(
                f"the server answered {response.status_code} to {method} {selector.split('?')[0]}: "
                f"{error_message(response)}",
                response.status_code,
            )
        return response

    def info(self) -> Dict[str, Any]:
        """``/info/``: the app's models (``{name: {"type", "labels", ...}}``), labels, strategies."""
        return self._request("GET", "/info/").json()

    def download(self, selector: str, path: str) -> str:
        """Write what ``GET selector`` answers (an image or a label file) to ``path``; returns it."""
        with open(path, "wb") as f:
            f.write(self._request("GET", selector).content)
        return path

    def download_image(self, image_id: str, path: str) -> str:
        """The datastore's image file ``image_id``, written to ``path``."""
        return self.download(f"/datastore/image?image={quote(image_id, safe='')}", path)

    def download_label(self, image_id: str, tag: str, path: str) -> str:
        """The datastore's label ``tag`` (``final``, ...) of ``image_id``, written to ``path``."""
        return self.download(f"/datastore/label?label={quote(image_id, safe='')}&tag={quote(tag, safe='')}", path)

    def upload_image(self, path: str, image_id: str, progress: Optional[Progress] = None) -> str:
        """Add an image file to the datastore under ``image_id``; returns the id the server gave it."""
        body, content_type = multipart({"params": "{}"}, {"file": path})
        response = self._request(
            "PUT", f"/datastore/image?image={quote(image_id, safe='')}",
            data=_ProgressReader(body, progress), headers={"Content-Type": content_type},
        )
        return str(response.json().get("image", image_id))

    def infer(
        self,
        model: str,
        image_id: str,
        params: Dict[str, Any],
        label_path: Optional[str] = None,
        out_dir: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> Tuple[Optional[str], Dict[str, Any]]:
        """``/infer/<model>?image=<id>``, the label (if any) uploaded as the request's ``label`` file.

        Returns:
            (the answer's label file written into ``out_dir``, or None when the answer is JSON
            only; the answer's JSON ``result``).
        """
        files = {"label": label_path} if label_path else {}
        body, content_type = multipart({"params": json.dumps(params)}, files)
        response = self._request(
            "POST", f"/infer/{quote(model, safe='')}?image={quote(image_id, safe='')}&output=all",
            data=_ProgressReader(body, progress), headers={"Content-Type": content_type},
        )
        kind = response.headers.get("Content-Type", "")
        if kind.startswith("multipart/"):
            result, image = split_multipart(response.content, kind)
        else:
            result, image = response.json(), None
        if image is None:
            return None, result if isinstance(result, dict) else {"answer": result}
        name, data = image
        suffix = ".nii.gz" if name.endswith(".nii.gz") else os.path.splitext(name)[1] or ".nii.gz"
        path = os.path.join(out_dir or ".", f"answer_{uuid.uuid4().hex[:8]}{suffix}")
        with open(path, "wb") as f:
            f.write(data)
        return path, result


__all__ = ["DEFAULT_URL", "MonaiLabelClient", "ServerError", "error_message", "multipart", "normalise_url",
           "split_multipart"]
