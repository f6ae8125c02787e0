"""Handlers for /networks: list, inspect, create, remove, prune, connect, disconnect."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api import models
from dockyard.api.body import read_body
from dockyard.api.codec import decode_filters, json_response, query_str
from dockyard.api.engine import engine
from dockyard.services.netgraph import Rendered


async def list_(request: web.Request) -> web.Response:
    filters = decode_filters(query_str(request.query, "filters"))
    result = await asyncio.to_thread(engine(request).networks.list, filters)
    return json_response(result)


async def inspect(request: web.Request) -> web.Response:
    scope = query_str(request.query, "scope") or ""
    result = await asyncio.to_thread(
        engine(request).networks.inspect, request.match_info["id"], False, scope
    )
    return json_response(result)


async def create(request: web.Request) -> web.Response:
    body = await read_body(request, models.NetworkCreate) or {}
    result = await asyncio.to_thread(engine(request).networks.create, body)
    return json_response(result, status=201)


async def remove(request: web.Request) -> web.Response:
    await asyncio.to_thread(engine(request).networks.remove, request.match_info["id"])
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = decode_filters(query_str(request.query, "filters"))
    result = await asyncio.to_thread(engine(request).networks.prune, filters)
    return json_response(result)


async def connect(request: web.Request) -> web.Response:
    body = await read_body(request, models.NetworkConnect) or {}
    await asyncio.to_thread(engine(request).networks.connect, request.match_info["id"], body)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    body = await read_body(request, models.NetworkDisconnect) or {}
    await asyncio.to_thread(engine(request).networks.disconnect, request.match_info["id"], body)
    return web.Response(status=200)


async def graph(request: web.Request) -> web.Response:
    """dockyard extension (#18, B1): the network graph, `format=json|dot|svg|text` (json by
    default; its shape is docs/network-graph.md's)."""
    fmt = query_str(request.query, "format") or "json"
    result = await asyncio.to_thread(engine(request).netgraph.render, fmt)
    if isinstance(result, Rendered):
        return web.Response(body=result.body, headers={"Content-Type": result.content_type})
    return json_response(result.to_json())
