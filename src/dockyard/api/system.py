"""Handlers for /_ping, /version, /info, /system/df."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api.codec import json_response
from dockyard.api.engine import engine
from dockyard.config import API_VERSION

PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Builder-Version": "1",
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Swarm": "inactive",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


async def ping(request: web.Request) -> web.StreamResponse:
    # aiohttp drops the body of a HEAD answer itself.
    return web.Response(text="OK", headers=PING_HEADERS)


async def version(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).system.version))


async def info(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).system.info))


async def df(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).system.df))
