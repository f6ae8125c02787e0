"""Handlers for exec: create on a container, then start (hijacked like attach), resize, inspect."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api import models
from dockyard.api.body import read_body
from dockyard.api.codec import json_response, query_int
from dockyard.api.engine import engine
from dockyard.api.session import serve_session
from dockyard.errors import InvalidParameter


def _exec_id(request: web.Request) -> str:
    return request.match_info["id"]


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, models.ExecConfig)
    if not body or not body.get("Cmd"):
        raise InvalidParameter("No exec command specified")
    ref = request.match_info["id"]
    return json_response(
        await asyncio.to_thread(engine(request).containers.exec_create, ref, body), status=201
    )


async def start(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, models.ExecStartCheck) or {}
    detach, tty = bool(body.get("Detach")), bool(body.get("Tty"))
    session = await engine(request).containers.exec_start(_exec_id(request), detach=detach, tty=tty)
    if session is None:
        return web.Response(status=200)
    # Whether stdin is wanted was decided at exec create; an unwanted stdin just never gets read.
    return await serve_session(request, session, stdin=True)


async def resize(request: web.Request) -> web.StreamResponse:
    q = request.query
    height, width = query_int(q, "h", 0), query_int(q, "w", 0)
    await asyncio.to_thread(
        engine(request).containers.exec_resize, _exec_id(request), height, width
    )
    return web.Response(status=200)


async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(
        await asyncio.to_thread(engine(request).containers.exec_inspect, _exec_id(request))
    )
