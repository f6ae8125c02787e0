"""Swarm mode's endpoints (`/swarm`, `/services`, `/nodes`, `/tasks`, `/secrets`, `/configs`).
Not in a swarm, they answer as such a dockerd: 503 with its words (D-dpy-2). In the one-node
swarm of services/swarm.py (D-dpy6-2), `/swarm` and `/nodes` are served; services, tasks,
secrets, configs and the swarm's update, unlock and node changes answer 501."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard.api import models
from dockyard.api.body import read_body
from dockyard.api.codec import decode_filters, json_response, query_bool
from dockyard.api.engine import engine
from dockyard.errors import InvalidParameter, Unavailable, Unsupported
from dockyard.services.swarm import ALREADY_IN_SWARM, NOT_A_MANAGER, Swarm

NO_JOIN = "This node cannot join a swarm: dockyard's swarm mode has one node"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _swarm(request: web.Request) -> Swarm:
    return engine(request).swarm


def _unserved(request: web.Request, what: str) -> None:
    if not _swarm(request).active():
        raise Unavailable(NOT_A_MANAGER)
    raise Unsupported(f"not implemented by dockyard: {what} (its swarm mode serves networks only)")


def unimplemented(what: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        _unserved(request, what)
        raise AssertionError("unreachable")

    return handler


async def leave(request: web.Request) -> web.StreamResponse:
    force = query_bool(request.query, "force")
    await asyncio.to_thread(_swarm(request).leave, force)
    return web.Response(status=200)


async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(_swarm(request).inspect())


async def nodes(request: web.Request) -> web.StreamResponse:
    decode_filters(request.query.get("filters"))  # a bad filter is a 400 first, as in dockerd
    return json_response(await asyncio.to_thread(_swarm(request).nodes))


async def node(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(_swarm(request).node, request.match_info["id"]))


def listing(what: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        decode_filters(request.query.get("filters"))
        _unserved(request, what)
        raise AssertionError("unreachable")

    return handler


def _go_uint(raw: str) -> str | None:
    """Why Go's strconv.ParseUint(raw, 10, 64) refuses `raw`, or None when it takes it."""
    if not raw.isascii() or not raw.isdigit():
        return f'strconv.ParseUint: parsing "{raw}": invalid syntax'
    if int(raw) >= 1 << 64:
        return f'strconv.ParseUint: parsing "{raw}": value out of range'
    return None


def versioned(kind: str, *, detail: bool = True) -> Handler:
    """An update: the `version` query is checked before anything else (a 400), as in dockerd;
    secrets and configs say so without Go's reason."""

    async def handler(request: web.Request) -> web.StreamResponse:
        raw = request.query.get("version", "")
        reason = _go_uint(raw)
        if reason is not None:
            raise InvalidParameter(
                f"invalid {kind} version '{raw}': {reason}" if detail else f"invalid {kind} version"
            )
        _unserved(request, f"{kind} update")
        raise AssertionError("unreachable")

    return handler


async def init(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, models.SwarmInit, json_only=False) or {}
    node_id = await asyncio.to_thread(_swarm(request).init, body)
    return json_response(node_id)


async def join(request: web.Request) -> web.StreamResponse:
    """dockerd checks the listen address first; then this node is in a swarm already, or
    cannot join one."""
    body = await read_body(request, models.SwarmJoin, json_only=False) or {}
    listen = body.get("ListenAddr")
    if not listen:
        raise InvalidParameter(f'invalid ListenAddr "{listen or ""}": invalid empty address')
    if _swarm(request).active():
        raise Unavailable(ALREADY_IN_SWARM)
    raise Unavailable(NO_JOIN)
