"""dockyard extension handlers (B1): a path's layer provenance in an image or a container, and
an image's layers with their wasted space. Shapes in docs/provenance.md."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api.codec import json_response
from dockyard.api.engine import engine
from dockyard.errors import InvalidParameter


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidParameter("path is required")
    return path


async def explain_image(request: web.Request) -> web.StreamResponse:
    prov = engine(request).provenance
    name, path = request.match_info["name"], _path(request)
    return json_response(await asyncio.to_thread(prov.explain_image, name, path))


async def explain_container(request: web.Request) -> web.StreamResponse:
    prov = engine(request).provenance
    ref, path = request.match_info["id"], _path(request)
    return json_response(await asyncio.to_thread(prov.explain_container, ref, path))


async def image_layers(request: web.Request) -> web.StreamResponse:
    prov = engine(request).provenance
    return json_response(await asyncio.to_thread(prov.image_layers, request.match_info["name"]))
