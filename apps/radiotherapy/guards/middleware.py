"""An ASGI middleware in front of every route (MONAI Label's and the app's).

- Access: requests from other hosts than the loopback are refused (403) unless the server
  runs with MONAI Label's authentication or ``--conf allow_remote true``.
- Names: no path segment may be ``.``/``..`` or hold a backslash or NUL, and the query
  parameters that name datastore objects (``image``, ``id``, ``label``, ``tag``,
  ``session_id``) must be names (:func:`lib.names.check_name`) - 400 otherwise.
- Bodies: a request whose body stops arriving (shorter than its Content-Length) gets 408
  after ``body_timeout_s`` instead of holding a connection and a worker forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from urllib.parse import parse_qsl, unquote

from lib.names import check_name

logger = logging.getLogger(__name__)

NAME_PARAMS = ("image", "id", "label", "tag", "session_id")


class BodyTimeout(Exception):
    """The client stopped sending the request body."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an IP address as the server sees it) is this machine's loopback."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def request_problem(path: str, query: str) -> str | None:
    """Why a request's path or query is refused, or None.

    Args:
        path: the decoded URL path.
        query: the raw query string.
    """
    for segment in path.split("/"):
        if segment in (".", "..") or "\\" in segment or "\x00" in segment:
            return f"path segment {segment!r} is not allowed"
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in NAME_PARAMS and value:
            try:
                check_name(value, f"query parameter '{key}'")
            except ValueError as error:
                return str(error)
    return None


async def _send_json(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """See the module doc.

    Args:
        app: the ASGI app it guards.
        allow_remote: accept requests from hosts other than the loopback.
        body_timeout_s: seconds to wait for each next piece of a request body.
    """

    def __init__(self, app, allow_remote: bool = False, body_timeout_s: float = 30.0) -> None:
        self.app = app
        self.allow_remote = allow_remote
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = scope.get("client") or (None, None)
        if not self.allow_remote and not is_loopback(client[0]):
            logger.warning(f"refused a request from {client[0]}: remote access is off")
            return await _send_json(
                send, 403, "remote access is off: run with MONAI Label's authentication "
                "(MONAI_LABEL_AUTH_ENABLE) or --conf allow_remote true (see the README)"
            )
        problem = request_problem(unquote(scope.get("path", "")), scope.get("query_string", b"").decode("latin-1"))
        if problem:
            return await _send_json(send, 400, problem)

        state = {"body_done": False, "started": False, "timed_out": False}

        async def guarded_receive():
            if state["body_done"]:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except asyncio.TimeoutError:
                state["timed_out"] = True
                if not state["started"]:
                    state["started"] = True
                    await _send_json(
                        send, 408, f"request body incomplete: nothing arrived for {self.body_timeout_s:g} s "
                        "(is it shorter than its Content-Length?)"
                    )
                raise BodyTimeout() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def guarded_send(message):
            if state["timed_out"]:
                return  # the 408 has been sent; whatever the app answers after it is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except BodyTimeout:
            logger.warning(f"{scope.get('method')} {scope.get('path')}: request body timed out")
        except Exception:
            if state["timed_out"]:
                logger.warning(f"{scope.get('method')} {scope.get('path')}: request body timed out")
                return
            raise
