"""Client errors that MONAI Label 0.8.5 would answer with HTTP 500 get a 4xx that names them.

Stock MONAI Label parses the infer ``params`` form field with ``json.loads`` and raises
``MONAILabelException`` for an unknown model, both of which reach the client as a bare
500. This module registers exception handlers on MONAI Label's FastAPI app and checks
infer requests before they run. Errors inside a task are handled by ``infers.errors``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.exception import MONAILabelError, MONAILabelException

logger = logging.getLogger(__name__)

_CLIENT_ERRORS = {MONAILabelError.INVALID_INPUT}


async def _malformed_json(request: Request, error: json.JSONDecodeError) -> JSONResponse:
    return JSONResponse(status_code=400, content={"detail": f"params is not valid JSON: {error}"})


async def _monailabel_error(request: Request, error: MONAILabelException) -> JSONResponse:
    status = 400 if error.error in _CLIENT_ERRORS else 500
    return JSONResponse(status_code=status, content={"detail": error.msg, "error": error.error.value})


def install_http_errors() -> None:
    """Register the handlers on the running server's FastAPI app (call once the server runs)."""
    from monailabel.app import app

    app.add_exception_handler(json.JSONDecodeError, _malformed_json)
    app.add_exception_handler(MONAILabelException, _monailabel_error)
    # Starlette freezes its handlers when it first builds the middleware stack (at the
    # lifespan start, before the app instance exists); drop it so the next request rebuilds it.
    app.middleware_stack = None
    logger.info("HTTP 4xx handlers installed for malformed params and invalid input")


def check_infer_request(request: Mapping, models: Mapping[str, object], datastore: Datastore) -> None:
    """Raise HTTP 404 for an unknown model or image id, before any work is done."""
    model = request.get("model")
    if model not in models:
        raise HTTPException(status_code=404, detail=f"unknown model '{model}'; available: {sorted(models)}")
    image = request.get("image")
    if isinstance(image, str) and not os.path.exists(image) and image not in datastore.list_images():
        raise HTTPException(
            status_code=404, detail=f"unknown image id '{image}': not in the datastore and not an uploaded file"
        )
