"""Taking over an HTTP connection for attach and exec, like dockerd's hijack.

When the client asked for `Upgrade: tcp`, the answer is `101 UPGRADED` and the socket then carries
raw bytes both ways: client bytes are stdin, a client half-close (shutdown(SHUT_WR)) is stdin EOF,
and output keeps flowing until the process ends. Without the upgrade the answer is a 200 whose body
is the output stream and stdin is not read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from dockyard.api.errors import mark_started

log = logging.getLogger(__name__)

_READ_HIGH_WATER = 64  # queued stdin chunks before we stop reading the socket
# docker-py reads the 101 headers through a buffered file, then reads output from the raw socket:
# output that arrives in the same segment as the headers is lost to it. dockerd gets away with
# this because its process starts after the headers are out; we may have output ready at once,
# so the first output waits this long after the headers.
_SETTLE_SECONDS = 0.02


def wants_upgrade(request: web.Request) -> bool:
    connection = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return "upgrade" in connection and request.headers.get("Upgrade", "").lower() == "tcp"


class _RawProtocol(asyncio.Protocol):
    """Stands in for aiohttp's protocol on the transport once the connection is hijacked: it
    queues incoming bytes, keeps the socket open on half-close, and forwards write flow control
    and connection loss so aiohttp's writer and bookkeeping keep working."""

    def __init__(self, inner: asyncio.BaseProtocol, transport: asyncio.Transport) -> None:
        self._inner = inner
        self._transport = transport
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._paused = False

    def data_received(self, data: bytes) -> None:
        self.queue.put_nowait(data)
        if not self._paused and self.queue.qsize() >= _READ_HIGH_WATER:
            self._paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self.queue.put_nowait(b"")
        # EOF is a half-close: the docker CLI shuts its write side at once when it sends no
        # stdin and still reads our output. A client that really left fails our next write.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(b"")
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def drained(self) -> None:
        if self._paused and self.queue.qsize() < _READ_HIGH_WATER // 2:
            self._paused = False
            self._transport.resume_reading()


class Hijacked:
    """A hijacked connection. Lifecycle: `await hijack(request, content_type)`; then concurrently
    `read()` until it returns b"" (client EOF or disconnect) and `write()` output; finally return
    `response` from the handler, which closes the connection."""

    def __init__(self, response: web.StreamResponse, raw: _RawProtocol | None) -> None:
        self.response = response
        self._raw = raw
        self.closed = False

    @property
    def upgraded(self) -> bool:
        return self._raw is not None

    async def read(self) -> bytes:
        """The next stdin chunk; b"" means EOF. Without an upgrade there is no stdin: wait forever."""
        if self._raw is None:
            await asyncio.Event().wait()
            return b""
        data = await self._raw.queue.get()
        self._raw.drained()
        return data

    async def write(self, data: bytes) -> bool:
        """Send output; False when the client is gone."""
        if self.closed:
            return False
        try:
            await self.response.write(data)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("hijacked client went away: %s", exc)
            self.closed = True
            return False
        return True

    async def finish(self) -> web.StreamResponse:
        if not self.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.response.write_eof()
        return self.response


async def hijack(request: web.Request, content_type: str, *, stdin: bool = True) -> Hijacked:
    upgrade = wants_upgrade(request)
    if upgrade:
        resp = web.StreamResponse(status=101, reason="UPGRADED")
        resp.headers["Connection"] = "Upgrade"
        resp.headers["Upgrade"] = "tcp"
    else:
        resp = web.StreamResponse(status=200)
    resp.headers["Content-Type"] = content_type
    resp.force_close()  # the connection is spent once the stream ends
    await resp.prepare(request)
    mark_started(request)
    if not upgrade:
        return Hijacked(resp, None)
    # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance
    if request.transport is None:
        raise ConnectionResetError("the client left before the stream started")
    transport = request.transport
    protocol: Any = request.protocol
    raw = _RawProtocol(protocol, transport)
    # Bytes that arrived behind the request headers were parked by aiohttp's protocol.
    tail: bytes = getattr(protocol, "_message_tail", b"")
    if tail:
        protocol._message_tail = b""
        raw.data_received(tail)
    transport.set_protocol(raw)
    await asyncio.sleep(_SETTLE_SECONDS)
    return Hijacked(resp, raw)
