"""Serve MONAI Label's bundled OHIF viewer correctly under ``/ohif/``, with the app's Save SEG button.

MONAI Label 0.8.5 joins the requested path with ``os.pathsep`` (``assets:favicon.ico``), so every
file in a sub-folder is answered with ``index.html``. This route, put in front of MONAI Label's
own, serves each file of the bundle with its content type, answers a missing file with 404,
and any other path (OHIF's client-side routes such as ``/ohif/monai-label``) with ``index.html``.
``index.html`` gets one script tag more: ``apps/radiotherapy/ohif/save_seg.js`` (the save that
OHIF's MONAI Label panel lacks).
"""

from __future__ import annotations

import logging
import mimetypes
from functools import lru_cache
from pathlib import Path

import monailabel
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, Response
from monailabel.config import settings
from monailabel.endpoints.user.auth import RBAC, User

logger = logging.getLogger(__name__)

OHIF_DIR = Path(monailabel.__file__).resolve().parent / "endpoints" / "static" / "ohif"
SAVE_SCRIPT = Path(__file__).resolve().parent / "ohif" / "save_seg.js"
SAVE_SCRIPT_URL = "/ohif/radiotherapy/save_seg.js"
CONTENT_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
    ".json": "application/json", ".map": "application/json", ".wasm": "application/wasm",
    ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".xml": "application/xml",
    ".txt": "text/plain",
}


def content_type(path: Path) -> str:
    """The Content-Type to serve ``path`` with."""
    known = CONTENT_TYPES.get(path.suffix.lower())
    return known or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@lru_cache(maxsize=1)
def index_html() -> bytes:
    """OHIF's ``index.html`` with the Save SEG script added before ``</body>``."""
    html = (OHIF_DIR / "index.html").read_text()
    tag = f'<script src="{SAVE_SCRIPT_URL}"></script>'
    return (html.replace("</body>", tag + "</body>", 1) if "</body>" in html else html + tag).encode()


def bundle_file(path: str) -> Path | None:
    """The file of the bundle that ``path`` names, or None (outside the bundle or absent)."""
    candidate = (OHIF_DIR / path).resolve()
    if OHIF_DIR in candidate.parents and candidate.is_file():
        return candidate
    return None


def serve_ohif(path: str = "", user: User = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_USER))) -> Response:
    """GET /ohif/{path}: a bundle file, the Save SEG script, or index.html for OHIF's own routes."""
    if path == SAVE_SCRIPT_URL.removeprefix("/ohif/"):
        return FileResponse(SAVE_SCRIPT, media_type="text/javascript")
    if path in ("", "index.html"):
        return Response(index_html(), media_type="text/html")
    found = bundle_file(path)
    if found is not None:
        return FileResponse(found, media_type=content_type(found))
    if Path(path).suffix:  # a file the bundle does not have: say so, not index.html
        raise HTTPException(404, f"/ohif/{path} is not a file of the OHIF viewer")
    return Response(index_html(), media_type="text/html")


def install_ohif_route(app: FastAPI) -> None:
    """Put :func:`serve_ohif` in front of MONAI Label's own ``/ohif/`` route (call once)."""
    app.add_api_route("/ohif/{path:path}", serve_ohif, methods=["GET"], include_in_schema=False)
    app.router.routes.insert(0, app.router.routes.pop())
    app.middleware_stack = None  # rebuilt on the next request (see apps.radiotherapy.http_errors)
    logger.info(f"OHIF served from {OHIF_DIR} with {SAVE_SCRIPT_URL}")
