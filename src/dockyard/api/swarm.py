"""Swarm mode's endpoints (`/swarm`, `/services`, `/nodes`, `/tasks`, `/secrets`, `/configs`),
answered as a dockerd that is not in a swarm: 503 with dockerd's words. Clients read that as
"no swarm" (docker-py's teardown ignores it after `leave`). dockyard has no swarm mode, so a
request to make one (`init`, `join`) is refused with the same status and its own words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard.api import models
from dockyard.api.body import read_body
from dockyard.api.codec import decode_filters
from dockyard.errors import InvalidParameter, Unavailable

NOT_IN_SWARM = "This node is not part of a swarm"
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
NO_SWARM_MODE = "This node cannot be part of a swarm: dockyard has no swarm mode"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def leave(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NOT_IN_SWARM)


async def not_a_manager(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NOT_A_MANAGER)


async def listing(request: web.Request) -> web.StreamResponse:
    decode_filters(request.query.get("filters"))  # a bad filter is a 400 first, as in dockerd
    raise Unavailable(NOT_A_MANAGER)


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
        raise Unavailable(NOT_A_MANAGER)

    return handler


async def create_swarm(request: web.Request) -> web.StreamResponse:
    """`init` and `join`: dockerd checks the listen address first, then makes the swarm."""
    model = models.SwarmJoin if request.path.endswith("/join") else models.SwarmInit
    body = await read_body(request, model, json_only=False) or {}
    listen = body.get("ListenAddr")
    if not listen:
        raise InvalidParameter(f'invalid ListenAddr "{listen or ""}": invalid empty address')
    raise Unavailable(NO_SWARM_MODE)
