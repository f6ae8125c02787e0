"""Handlers for /containers/{id}/archive (S11): HEAD stat, GET tar, PUT extract."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import aiohttp
from aiohttp import web

from dockyard.api.codec import query_bool
from dockyard.api.engine import engine
from dockyard.api.errors import mark_started
from dockyard.api.stream import threaded
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
    no_overwrite = query_bool(q, "noOverwriteDirNonDir")
    copy_uid_gid = query_bool(q, "copyUIDGID")
    archive = engine(request).archive
    # Validation first (its errors get their status before any byte is read), then the body
    # goes straight from the event loop into the extractor child's stdin.
    job = await asyncio.to_thread(
        archive.begin_put,
        ref,
        path,
        no_overwrite_dir_non_dir=no_overwrite,
        copy_uid_gid=copy_uid_gid,
    )
    try:
        await _pump(request, job.fd)
    finally:
        await asyncio.to_thread(job.finish)
    return web.Response(status=200)


async def _pump(request: web.Request, wfd: int) -> None:
    """Feed the request body into the extractor's stdin pipe (non-blocking `wfd`, closed by
    the job's finish()): one write per received chunk, no thread in between."""
    loop = asyncio.get_running_loop()
    try:
        async for chunk in request.content.iter_any():
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(wfd, view) :]
                except BlockingIOError:
                    ready = loop.create_future()
                    loop.add_writer(wfd, ready.set_result, None)
                    try:
                        await ready
                    finally:
                        loop.remove_writer(wfd)
    except (OSError, asyncio.CancelledError, aiohttp.ClientError, web.HTTPException):
        pass  # the extractor stopped (error) or the client went away: the reader sees EOF
