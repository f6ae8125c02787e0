"""`GET /dockyard/dashboard` (where the dashboard listens, with its token) and `POST
/dockyard/dashboard?port=N` (start it unless it runs): what `dockyard dashboard` calls, on the
root-only socket, so only who may drive the daemon learns the token (#18, B1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.api.codec import json_response
from dockyard.errors import InvalidParameter, NotFound

if TYPE_CHECKING:
    from dockyard.api.dashboard.server import Dashboard

DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard")


async def locate(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[DASHBOARD]
    if not dashboard.running:
        raise NotFound("the dashboard is not running (start it with `dockyard dashboard`)")
    return json_response(dashboard.info())


async def start(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("port", "") or "0"
    try:
        port = int(raw)
    except ValueError:
        raise InvalidParameter(f"invalid port: {raw}") from None
    return json_response(await request.app[DASHBOARD].start(port))
