"""Guards of the served app: no way out of the datastore, no corrupt data kept, no blocked users.

:func:`install_guards` (called once the server runs, from ``on_init_complete``) puts them on
MONAI Label 0.8.5's FastAPI app without forking it:

- :mod:`.middleware` in front of every route: loopback-only unless authenticated or allowed,
  path segments and id query parameters checked, request bodies that stop arriving cut (408).
- :mod:`.routes` replaces the stock routes that take ids, params or files (datastore writes,
  infer, sessions, train, strategies, scoring, model upload, reload); work runs in bounded
  pools (:mod:`.concurrency`), uploads are checked and removed (:mod:`.uploads`), labels are
  validated before they are kept (:mod:`.labels`).
- CORS answers only the origins of ``--conf cors_origins`` (comma-separated) or
  ``MONAI_LABEL_CORS_ORIGINS``; none by default.
- MONAI Label's token check is mended (:mod:`.access`: it refused every token with PyJWT 2).
- Unexpected errors answer 500 with the error's message and a log line.

``--conf`` options: ``infer_workers`` (default 2), ``infer_queue`` (16), ``body_timeout_s``
(30), ``max_upload_mb`` (2048), ``cors_origins`` (none), ``allow_remote`` (false).
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable, Mapping

from fastapi import Request
from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def cors_origins(conf: Mapping[str, str]) -> list[str]:
    """Origins allowed to call the server from a browser (``--conf cors_origins`` first)."""
    from monailabel.config import settings

    configured = conf.get("cors_origins", "")
    origins = [o.strip().rstrip("/") for o in configured.split(",") if o.strip()]
    return origins or [str(o).rstrip("/") for o in settings.MONAI_LABEL_CORS_ORIGINS]


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception(f"internal error on {request.method} {request.url.path}: {error!r}")
    return JSONResponse(
        status_code=500,
        content={"detail": f"internal server error ({type(error).__name__}: {error}); the server log has the trace"},
    )


def _drop_routes(router, gone: set[tuple[str, str]]) -> int:
    """Remove the API routes whose (path, method) is in ``gone`` from ``router`` and the routers it
    includes (FastAPI keeps included routers as branches); return how many were removed."""
    from fastapi.routing import APIRoute

    removed = 0
    original = getattr(router, "original_router", router)
    kept = []
    for route in original.routes:
        if isinstance(route, APIRoute) and any((route.path, m) in gone for m in route.methods):
            removed += 1
            continue
        if hasattr(route, "original_router") or hasattr(route, "routes"):
            removed += _drop_routes(route, gone)
        kept.append(route)
    original.routes[:] = kept
    if hasattr(original, "_mark_routes_changed"):
        original._mark_routes_changed()
    return removed


def install_guards(conf: Mapping[str, str], labels: Mapping[str, int], uploads_dir: str | os.PathLike,
                   on_image_fetched: Callable[[str, str], None] | None = None) -> None:
    """Put the guards on the running server's FastAPI app (see the module doc).

    Args:
        conf: the app's ``--conf`` options.
        labels: the app's label names and values.
        uploads_dir: a folder of this server's own for uploads in progress (emptied at start and exit).
        on_image_fetched: called with (image id, reason) when a client fetches an image (next
            sample, download); must return at once.
    """
    import torch
    from fastapi.middleware.cors import CORSMiddleware
    from monailabel.app import app
    from monailabel.config import settings
    from starlette.middleware import Middleware

    from apps.radiotherapy.guards.concurrency import BoundedPool, limit_native_threads, torch_threads_per_worker
    from apps.radiotherapy.guards.middleware import GuardMiddleware
    from apps.radiotherapy.guards.routes import DROPPED, REPLACED, Guards, router, set_guards
    from apps.radiotherapy.guards.uploads import UploadFolder

    workers = int(conf.get("infer_workers", 2))
    threads = torch_threads_per_worker(workers)
    torch.set_num_threads(threads)
    native = "as the libraries started" if not _flag(conf.get("limit_native_threads", True)) else \
        ", ".join(limit_native_threads(threads))
    uploads = UploadFolder(uploads_dir, max_bytes=int(float(conf.get("max_upload_mb", 2048)) * (1 << 20)))
    atexit.register(uploads.remove)
    set_guards(Guards(
        infer=BoundedPool("inference", workers, int(conf.get("infer_queue", 16))),
        work=BoundedPool("datastore", 2, 32),
        uploads=uploads,
        labels=dict(labels),
        **({"on_image_fetched": on_image_fetched} if on_image_fetched is not None else {}),
    ))

    from apps.radiotherapy.guards import access

    access.install()
    prefix = settings.MONAI_LABEL_API_STR
    _drop_routes(app.router, {(prefix + path, method) for path, method in REPLACED | DROPPED})
    app.include_router(router, prefix=prefix)
    app.openapi_schema = None

    allow_remote = _flag(conf.get("allow_remote", False)) or settings.MONAI_LABEL_AUTH_ENABLE
    origins = cors_origins(conf)
    middleware = [m for m in app.user_middleware if m.cls is not CORSMiddleware]
    cors = Middleware(CORSMiddleware, allow_origins=origins, allow_credentials=bool(origins),
                      allow_methods=["*"], allow_headers=["*"])
    guard = Middleware(GuardMiddleware, allow_remote=allow_remote, body_timeout_s=float(conf.get("body_timeout_s", 30)))
    app.user_middleware[:] = [cors, guard, *middleware]
    app.add_exception_handler(Exception, _internal_error)
    app.middleware_stack = None  # rebuilt, with the above, at the next request
    logger.info(
        f"guards installed: {len(REPLACED)} routes replaced, inference in {workers} workers x {threads} torch "
        f"threads, native thread pools {native}, uploads in {uploads.path}, CORS origins {origins or 'none'}, remote access "
        f"{'on' if allow_remote else 'off (loopback only)'}"
    )
