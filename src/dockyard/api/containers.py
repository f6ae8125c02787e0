"""Handlers for /containers/...: decode the request, call the ContainerService, encode."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from dockyard.api import models
from dockyard.api.body import read_body
from dockyard.api.codec import (
    decode_filters,
    encode,
    json_response,
    query_bool,
    query_int,
    query_optional_int,
    query_str,
    query_time,
)
from dockyard.api.engine import api_version, engine
from dockyard.api.inline import InlineCall
from dockyard.api.session import serve_session
from dockyard.api.stream import (
    MULTIPLEXED,
    RAW,
    close_iterator,
    encode_output,
    start_stream,
    write_bytes_stream,
)
from dockyard.core.types import AttachOptions
from dockyard.errors import DockyardError, InvalidParameter

log = logging.getLogger(__name__)

NO_CONTENT = 204


def _ref(request: web.Request) -> str:
    return request.match_info["id"]


def _done(status: int = NO_CONTENT) -> web.Response:
    return web.Response(status=status)


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, models.ContainerConfig) or {}
    name = query_str(request.query, "name")
    result = await asyncio.to_thread(engine(request).containers.create, name, body)
    return json_response(result, status=201)


# `ps` without sizes or filters: on the loop while it stays sub-millisecond (api/inline.py)
_PLAIN_LIST = InlineCall()


async def list_(request: web.Request) -> web.StreamResponse:
    q = request.query
    args = (
        query_bool(q, "all"),
        query_int(q, "limit", -1),
        query_bool(q, "size"),
        decode_filters(q.get("filters")),
    )
    containers = engine(request).containers
    if args[2] or args[3]:  # sizes walk directories; filters may resolve images
        result = await asyncio.to_thread(containers.list, *args)
    else:
        result = await _PLAIN_LIST.run(containers.list, *args)
    return json_response(result)


_PLAIN_INSPECT = InlineCall()


def inspect_at_once(request: web.Request) -> bytes | None:
    """inspect's kept answer when there is one, for api/lean.py to send without a task; None:
    the handler answers (a query, a miss)."""
    if request.query_string:
        return None
    return engine(request).containers.inspect_kept(_ref(request))


async def inspect(request: web.Request) -> web.StreamResponse:
    containers = engine(request).containers
    if query_bool(request.query, "size"):  # walks the writable layer
        return json_response(await asyncio.to_thread(containers.inspect, _ref(request), True))
    ref = _ref(request)
    body = containers.inspect_kept(ref)  # no store read: on the loop, even when it is busy
    if body is None:
        body = await _PLAIN_INSPECT.run(containers.inspect_encoded, ref, encode)
    return web.Response(body=body, content_type="application/json")


async def start(request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(engine(request).containers.start, _ref(request))
    return _done()


def _stop_args(request: web.Request) -> tuple[str | None, int | None]:
    return query_str(request.query, "signal"), query_optional_int(request.query, "t")


async def stop(request: web.Request) -> web.StreamResponse:
    await engine(request).containers.stop(_ref(request), *_stop_args(request))
    return _done()


async def restart(request: web.Request) -> web.StreamResponse:
    await engine(request).containers.restart(_ref(request), *_stop_args(request))
    return _done()


async def kill(request: web.Request) -> web.StreamResponse:
    signal = query_str(request.query, "signal") or "SIGKILL"
    await engine(request).containers.kill(_ref(request), signal)
    return _done()


async def update(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, models.UpdateConfig) or {}
    if api_version(request) < (1, 40):
        body.pop("PidsLimit", None)  # not part of the update before API 1.40
    result = await asyncio.to_thread(engine(request).containers.update, _ref(request), body)
    return json_response(result)


async def pause(request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(engine(request).containers.pause, _ref(request))
    return _done()


async def unpause(request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(engine(request).containers.unpause, _ref(request))
    return _done()


async def remove(request: web.Request) -> web.StreamResponse:
    q = request.query
    if query_bool(q, "link"):
        await asyncio.to_thread(engine(request).containers.remove_link, _ref(request))
        return _done()
    await engine(request).containers.remove(
        _ref(request), query_bool(q, "force"), query_bool(q, "v")
    )
    return _done()


async def wait(request: web.Request) -> web.StreamResponse:
    """Headers go out once the wait is registered (the docker CLI waits for them before it
    starts the container); the body follows when the condition is met."""
    ref = _ref(request)
    condition = request.query.get("condition") or "not-running"
    # a missing container is a 404, not a 200; any other value reads as not-running (dockerd)
    pending = await engine(request).containers.wait_registered(ref, condition)
    resp = await start_stream(request, "application/json")
    try:
        code = pending if isinstance(pending, int) else await pending
        result: dict[str, object] = {"StatusCode": code, "Error": None}
    except DockyardError as exc:
        result = {"StatusCode": -1, "Error": {"Message": exc.message}}
    await resp.write(encode(result))
    await resp.write_eof()
    return resp


async def logs(request: web.Request) -> web.StreamResponse:
    q = request.query
    ref = _ref(request)
    stdout, stderr = query_bool(q, "stdout"), query_bool(q, "stderr")
    if not (stdout or stderr):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    containers = engine(request).containers
    details = await asyncio.to_thread(containers.inspect, ref)
    tty = bool((details.get("Config") or {}).get("Tty"))
    chunks = containers.logs(
        ref,
        follow=query_bool(q, "follow"),
        stdout=stdout,
        stderr=stderr,
        since=query_time(q, "since") or 0.0,
        until=query_time(q, "until") or 0.0,
        timestamps=query_bool(q, "timestamps"),
        tail=q.get("tail") or "all",
    )
    try:
        resp = await start_stream(request, RAW if tty else MULTIPLEXED)
        async for stream, data in chunks:
            await resp.write(encode_output(tty, stream, data))
        await resp.write_eof()
        return resp
    finally:
        await close_iterator(chunks)


async def top(request: web.Request) -> web.StreamResponse:
    ps_args = request.query.get("ps_args") or "-ef"
    return json_response(
        await asyncio.to_thread(engine(request).containers.top, _ref(request), ps_args)
    )


ONE_SHOT_SINCE = (1, 41)


async def stats(request: web.Request) -> web.StreamResponse:
    """stream (default): one sample a second; stream=false: one sample with a real precpu;
    one-shot (API >= 1.41): one sample at once, no precpu."""
    q = request.query
    stream = query_bool(q, "stream", default=True)
    one_shot = api_version(request) >= ONE_SHOT_SINCE and query_bool(q, "one-shot")
    containers = engine(request).containers
    if not stream:
        return json_response(await containers.stats_once(_ref(request), one_shot))
    frames = await containers.stats_stream(_ref(request))  # a missing container: 404 first
    try:
        if one_shot:
            raise InvalidParameter("cannot have stream=true and one-shot=true")
        resp = await start_stream(request, "application/json")
        async for doc in frames:
            await resp.write(encode(doc))
        await resp.write_eof()
        return resp
    finally:
        await close_iterator(frames)


async def rename(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name", "")
    await asyncio.to_thread(engine(request).containers.rename, _ref(request), name)
    return _done()


async def changes(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).containers.changes, _ref(request)))


async def export(request: web.Request) -> web.StreamResponse:
    chunks = await asyncio.to_thread(engine(request).containers.export, _ref(request))
    return await write_bytes_stream(request, chunks, "application/x-tar")


async def resize(request: web.Request) -> web.StreamResponse:
    q = request.query
    height, width = query_int(q, "h", 0), query_int(q, "w", 0)
    await asyncio.to_thread(engine(request).containers.resize, _ref(request), height, width)
    return _done(200)


async def attach(request: web.Request) -> web.StreamResponse:
    q = request.query
    stdin = query_bool(q, "stdin")
    opts = AttachOptions(stdin=stdin, stdout=query_bool(q, "stdout"),
                         stderr=query_bool(q, "stderr"), logs=query_bool(q, "logs"),
                         stream=query_bool(q, "stream"), detach_keys=q.get("detachKeys", ""))  # fmt: skip
    session = await engine(request).containers.attach(_ref(request), opts)
    return await serve_session(request, session, stdin=stdin)


async def prune(request: web.Request) -> web.StreamResponse:
    filters = decode_filters(request.query.get("filters"))
    return json_response(await asyncio.to_thread(engine(request).containers.prune, filters))


async def commit(request: web.Request) -> web.StreamResponse:
    q = request.query
    ref = q.get("container", "")
    if not ref:
        raise InvalidParameter("No container name or ID supplied")
    config = await read_body(request, models.ContainerConfig)
    result = await asyncio.to_thread(
        lambda: engine(request).containers.commit(
            ref,
            repo=query_str(q, "repo"),
            tag=query_str(q, "tag"),
            author=q.get("author", ""),
            comment=q.get("comment", ""),
            changes=[c for c in q.getall("changes", []) if c],
            pause=query_bool(q, "pause", default=True),
            config=config,
        )
    )
    return json_response(result, status=201)
