"""`GET /containers/{id}/attach/ws`: attach over a websocket, as dockerd serves it. stdin, stdout
and stderr are all attached; output is sent unframed, in binary messages from API 1.28 on and in
text messages before; client messages are stdin (detach keys apply with a TTY)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from aiohttp.http import WSMsgType

from dockyard.api.codec import query_bool
from dockyard.api.engine import api_version, engine
from dockyard.api.errors import mark_started
from dockyard.api.stream import close_iterator
from dockyard.core.detachkeys import EscapeMatcher
from dockyard.core.types import AttachOptions
from dockyard.services.protocols import StreamSession

BINARY_SINCE = (1, 28)


async def attach_ws(request: web.Request) -> web.StreamResponse:
    q = request.query
    opts = AttachOptions(stdin=True, stdout=True, stderr=True, logs=query_bool(q, "logs"),
                         stream=query_bool(q, "stream"), detach_keys=q.get("detachKeys", ""))  # fmt: skip
    session = await engine(request).containers.attach(request.match_info["id"], opts)
    try:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        mark_started(request)
        binary = api_version(request) >= BINARY_SINCE
        pump_out = asyncio.create_task(_copy_output(ws, session, binary))
        pump_in = asyncio.create_task(_copy_stdin(ws, session, pump_out))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await pump_out
        finally:
            for task in (pump_out, pump_in):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        await ws.close()
        return ws
    finally:
        await session.close()


async def _copy_output(ws: web.WebSocketResponse, session: StreamSession, binary: bool) -> None:
    output = session.output()
    try:
        async for _, data in output:
            if ws.closed:
                break
            try:
                if binary:
                    await ws.send_bytes(data)
                else:
                    await ws.send_str(data.decode("utf-8", "replace"))
            except ConnectionError:
                break
    finally:
        await close_iterator(output)


async def _copy_stdin(
    ws: web.WebSocketResponse, session: StreamSession, pump_out: asyncio.Task[None]
) -> None:
    escape = EscapeMatcher(session.detach_keys) if session.detach_keys else None
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            data = bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            data = str(msg.data).encode()
        else:
            break
        detached = False
        if escape is not None:
            data, detached = escape.feed(data)
        if data:
            await session.write_stdin(data)
        if detached:
            session.detached()
            break
    pump_out.cancel()  # the client left or detached: the stream ends, the process goes on
