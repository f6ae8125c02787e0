"""Handlers for /volumes (S8): decode, call the volume service, encode."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api import models
from dockyard.api.body import read_body
from dockyard.api.codec import decode_filters, json_response, query_bool
from dockyard.api.engine import api_version, engine

# Before API 1.42 `volume prune` removed every unused volume, named ones included.
PRUNE_ANONYMOUS_ONLY_SINCE = (1, 42)


def _name(request: web.Request) -> str:
    return request.match_info["name"]


async def list_(request: web.Request) -> web.StreamResponse:
    filters = decode_filters(request.query.get("filters"))
    return json_response(await asyncio.to_thread(engine(request).volumes.list, filters))


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, models.VolumeCreate) or {}
    volumes = engine(request).volumes
    result = volumes.create_nowait(body)
    if result is None:
        result = await asyncio.to_thread(volumes.create, body)
    return json_response(result, status=201)


async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).volumes.inspect, _name(request)))


async def remove(request: web.Request) -> web.StreamResponse:
    force = query_bool(request.query, "force")
    await asyncio.to_thread(engine(request).volumes.remove, _name(request), force)
    return web.Response(status=204)


async def prune(request: web.Request) -> web.StreamResponse:
    filters = decode_filters(request.query.get("filters"))
    everything = api_version(request) < PRUNE_ANONYMOUS_ONLY_SINCE
    return json_response(
        await asyncio.to_thread(engine(request).volumes.prune, filters, everything)
    )
