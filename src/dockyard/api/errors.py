"""The one place that turns exceptions into HTTP answers (applied to every handler by
api/router.py: guarded): `{"message": ...}` with the status the
error class carries, Docker's "page not found" for unknown routes, 500 for anything unexpected
(logged with its traceback; the client gets no Python internals)."""

from __future__ import annotations

import logging

from aiohttp import web

from dockyard.api.codec import json_response
from dockyard.errors import DockyardError, message_of

log = logging.getLogger(__name__)


def error_response(status: int, message: str) -> web.StreamResponse:
    if status == 304:  # a 304 carries no body
        return web.Response(status=304)
    return json_response({"message": message}, status=status)


def response_for(exc: BaseException) -> web.StreamResponse:
    if isinstance(exc, DockyardError):
        return error_response(exc.status, exc.message)
    if isinstance(exc, web.HTTPNotFound):
        return error_response(404, "page not found")
    if isinstance(exc, web.HTTPMethodNotAllowed):  # dockerd's router does not say 405
        return error_response(404, "page not found")
    if isinstance(exc, web.HTTPException):
        return error_response(exc.status, exc.text or exc.reason)
    if isinstance(exc, OSError):  # e.g. a full disk: the file and the reason, in Go's words
        log.error("unexpected error: %s", exc)
        return error_response(500, message_of(exc))
    log.error("unexpected error: %s", exc, exc_info=exc)
    return error_response(500, message_of(exc))


STARTED = web.RequestKey("dockyard_stream_started", bool)


def mark_started(request: web.Request) -> None:
    """Streaming handlers call this once headers are sent, so errors are not answered twice."""
    request[STARTED] = True


def _started(request: web.Request) -> bool:
    return bool(request.get(STARTED, False))
