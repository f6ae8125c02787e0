"""Handlers for /_ping, /version, /info, /system/df."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api.codec import encode, json_response, query_bool
from dockyard.api.engine import engine
from dockyard.config import API_VERSION
from dockyard.services.protocols import SystemService

PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Builder-Version": "1",
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Swarm": "inactive",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


async def check(request: web.Request) -> web.StreamResponse:
    """dockyard extension: `system check` (services/check.py); `repair=1` fixes what is safe
    and removes damaged images, `force=1` with it also the containers using them, `quick=1`
    skips hashing the content store."""
    repair, quick, force = (query_bool(request.query, k) for k in ("repair", "quick", "force"))
    return json_response(await engine(request).check.check(repair, quick, force))


async def ping(request: web.Request) -> web.StreamResponse:
    # aiohttp drops the body of a HEAD answer itself.
    return web.Response(text="OK", headers=PING_HEADERS)


# The version document never changes while a daemon runs, but its first build execs
# `runc --version`: built once on a worker thread, then answered from here on the event loop
# (`docker version` and every client's negotiation ask for it). Keyed by the service object so
# several engines in one process (tests) never share an answer.
_VERSIONS: dict[int, tuple[SystemService, bytes]] = {}


async def version(request: web.Request) -> web.StreamResponse:
    system = engine(request).system
    cached = _VERSIONS.get(id(system))
    if cached is None or cached[0] is not system:
        cached = (system, encode(await asyncio.to_thread(system.version)))
        _VERSIONS[id(system)] = cached
    return web.Response(body=cached[1], content_type="application/json")


async def info(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).system.info))


async def df(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).system.df))
