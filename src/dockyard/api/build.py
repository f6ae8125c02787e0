"""Handlers for POST /build and POST /build/prune (MISSION S1). The context is unpacked and the
Dockerfile parsed before the first byte of the answer, so those errors get Docker's statuses;
after that, progress and errors travel as JSON messages in a 200 stream."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from dockyard.api.codec import encode, go_json_error, json_response, query_bool
from dockyard.api.engine import engine
from dockyard.api.stream import body_file, start_stream
from dockyard.dockerfile.plan import BuildOptions
from dockyard.errors import InvalidParameter, System, Unsupported

if TYPE_CHECKING:
    from dockyard.services.build import Build


def _service(request: web.Request) -> Build:
    svc = getattr(engine(request), "build", None)
    if svc is None:
        raise Unsupported("this engine cannot build images")
    return cast("Build", svc)


def _json_map(raw: str, name: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"invalid {name} value: {raw}") from None
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid {name} value: {raw}")
    return value


def options(q: Any) -> BuildOptions:
    return BuildOptions(
        dockerfile=q.get("dockerfile") or "Dockerfile",
        tags=[t for t in q.getall("t", []) if t],
        buildargs=_json_map(q.get("buildargs", ""), "buildargs"),
        nocache=query_bool(q, "nocache"),
        rm=query_bool(q, "rm", True),
        forcerm=query_bool(q, "forcerm"),
        labels={k: str(v) for k, v in _json_map(q.get("labels", ""), "labels").items()},
        target=q.get("target", ""),
        quiet=query_bool(q, "q"),
        pull=query_bool(q, "pull"),
        networkmode=q.get("networkmode", ""),
        cachefrom=_cache_from(q.get("cachefrom", "")),
        extrahosts=[h for h in q.getall("extrahosts", []) if h],
    )


def _cache_from(raw: str) -> list[str]:
    """`cachefrom`: a JSON list of image names; dockerd passes a decoding error on as a 500."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise System(go_json_error(exc)) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise System(f"json: cannot unmarshal {raw} into Go value of type []string")
    return value


async def build(request: web.Request) -> web.StreamResponse:
    opts = options(request.query)
    svc = _service(request)
    src = body_file(request)
    job = await asyncio.to_thread(svc.prepare, src, opts)
    try:
        resp = await start_stream(request, "application/json")
        async for msg in job.run():
            await resp.write(encode(msg))
    finally:
        # Before the end of the answer: a client that saw the build end sees its context gone.
        await asyncio.to_thread(job.close)
    await resp.write_eof()
    return resp


async def prune(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(_service(request).prune))
