"""Handlers for /networks: list and inspect (the predefined bridge, host and none)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api.codec import decode_filters, json_response, query_str
from dockyard.api.engine import engine


async def list_(request: web.Request) -> web.Response:
    filters = decode_filters(query_str(request.query, "filters"))
    result = await asyncio.to_thread(engine(request).networks.list, filters)
    return json_response(result)


async def inspect(request: web.Request) -> web.Response:
    result = await asyncio.to_thread(engine(request).networks.inspect, request.match_info["id"])
    return json_response(result)
