"""Pumping a StreamSession (attach, exec) over a hijacked connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from dockyard.api.hijack import Hijacked, hijack
from dockyard.api.stream import MULTIPLEXED, RAW, close_iterator, encode_output
from dockyard.core.detachkeys import EscapeMatcher
from dockyard.errors import DockyardError
from dockyard.services.protocols import StreamSession

log = logging.getLogger(__name__)


async def serve_session(
    request: web.Request, session: StreamSession, *, stdin: bool
) -> web.StreamResponse:
    """Hijack the connection, copy client bytes to stdin and output frames to the client until
    the process ends, the client leaves or types the detach keys; then detach the session (the
    process keeps running)."""
    try:
        conn = await hijack(request, MULTIPLEXED if session.framed else RAW, stdin=stdin)
        pump_out = asyncio.create_task(_copy_output(conn, session))
        pump_in = asyncio.create_task(_copy_stdin(conn, session, pump_out)) if stdin else None
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await pump_out
        finally:
            for task in (pump_out, pump_in):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        return await conn.finish()
    finally:
        await session.close()


async def _copy_output(conn: Hijacked, session: StreamSession) -> None:
    output = session.output()
    try:
        async for stream, data in output:
            if not await conn.write(encode_output(not session.framed, stream, data)):
                break
    finally:
        await close_iterator(output)


async def _copy_stdin(conn: Hijacked, session: StreamSession, pump_out: asyncio.Task[None]) -> None:
    escape = EscapeMatcher(session.detach_keys) if session.detach_keys else None
    try:
        while True:
            data = await conn.read()
            if not data:
                # Client half-closed (or left): the process sees EOF on stdin.
                await session.close_stdin()
                return
            if escape is not None:
                data, detached = escape.feed(data)
                if data:
                    await session.write_stdin(data)
                if detached:  # as dockerd: the stream ends, the process goes on
                    session.detached()
                    pump_out.cancel()
                    return
                continue
            await session.write_stdin(data)
    except DockyardError as exc:
        # The process may be gone while the client still types; output ends the session.
        log.debug("stdin copy stopped: %s", exc)
