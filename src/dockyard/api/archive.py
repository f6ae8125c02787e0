"""Handlers for /containers/{id}/archive (S11): HEAD stat, GET tar, PUT extract."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from aiohttp import web

from dockyard.api.codec import query_bool
from dockyard.api.engine import engine
from dockyard.api.errors import mark_started
from dockyard.api.stream import body_file, threaded
from dockyard.errors import InvalidParameter

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidParameter("path is required")  # Docker's wording for a missing ?path=
    return path


def _stat_header(doc: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


async def head(request: web.Request) -> web.StreamResponse:
    doc = await asyncio.to_thread(
        engine(request).archive.stat, request.match_info["id"], _path(request)
    )
    return web.Response(status=200, headers={STAT_HEADER: _stat_header(doc)})


async def get(request: web.Request) -> web.StreamResponse:
    doc, chunks = await asyncio.to_thread(
        engine(request).archive.get, request.match_info["id"], _path(request)
    )
    source = threaded(chunks)
    first = await anext(source, None)  # errors raised before any byte still get a status
    resp = web.StreamResponse(status=200, headers={STAT_HEADER: _stat_header(doc)})
    resp.content_type = "application/x-tar"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    mark_started(request)
    if first is not None:
        await resp.write(first)
        async for chunk in source:
            await resp.write(chunk)
    await resp.write_eof()
    return resp


async def put(request: web.Request) -> web.StreamResponse:
    q = request.query
    ref, path = request.match_info["id"], _path(request)
    body = body_file(request)
    await asyncio.to_thread(
        lambda: engine(request).archive.put(
            ref,
            path,
            body,
            no_overwrite_dir_non_dir=query_bool(q, "noOverwriteDirNonDir"),
            copy_uid_gid=query_bool(q, "copyUIDGID"),
        )
    )
    return web.Response(status=200)
