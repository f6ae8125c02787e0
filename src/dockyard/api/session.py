"""Pumping a StreamSession (attach, exec) over a hijacked connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from dockyard.api.hijack import Hijacked, hijack
from dockyard.api.stream import MULTIPLEXED, RAW, close_iterator, encode_output
from dockyard.errors import DockyardError
from dockyard.services.protocols import StreamSession

log = logging.getLogger(__name__)


async def serve_session(
    request: web.Request, session: StreamSession, *, stdin: bool
) -> web.StreamResponse:
    """Hijack the connection, copy client bytes to stdin and output frames to the client until
    the process ends or the client leaves; then detach the session (the process keeps running)."""
    try:
        conn = await hijack(request, RAW if session.tty else MULTIPLEXED, stdin=stdin)
        pump_in = asyncio.create_task(_copy_stdin(conn, session)) if stdin else None
        output = session.output()
        try:
            async for stream, data in output:
                if not await conn.write(encode_output(session.tty, stream, data)):
                    break
        finally:
            await close_iterator(output)
            if pump_in is not None:
                pump_in.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump_in
        return await conn.finish()
    finally:
        await session.close()


async def _copy_stdin(conn: Hijacked, session: StreamSession) -> None:
    try:
        while True:
            data = await conn.read()
            if not data:
                # Client half-closed (or left): the process sees EOF on stdin.
                await session.close_stdin()
                return
            await session.write_stdin(data)
    except DockyardError as exc:
        # The process may be gone while the client still types; output ends the session.
        log.debug("stdin copy stopped: %s", exc)
