"""Attach and exec sessions: a client's view of a process's stdio, carried over the shim's socket.

An attach may begin before the container starts (`docker run` attaches, then starts): the session
is parked until start() connects it to the shim, between `runc create` and `runc start`, so no
output is lost. Streams not asked for are dropped here, not in the shim."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


class ShimSession:
    def __init__(
        self,
        *,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        # told whether the process's output ended (else the client left or detached)
        on_end: Callable[[bool], Awaitable[None]] | None = None,
        framed: bool | None = None,
        detach_keys: bytes = b"",
        backlog: AsyncIterator[tuple[int, bytes]] | None = None,
        on_detach: Callable[[], None] | None = None,  # the client typed the detach keys
    ) -> None:
        self.tty = tty
        # Multiplexed 8-byte frames or raw bytes: by default raw with a TTY; an exec start says.
        self.framed = not tty if framed is None else framed
        # The detach sequence, watched on stdin only when the process has a TTY (as dockerd).
        self.detach_keys = detach_keys if tty and stdin else b""
        self._backlog = backlog  # attach's logs=1: the log so far, before the live output
        self._want = {1: stdout, 2: stderr}
        self._stdin = stdin
        self._conn: Any = None
        self._connected: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._on_end = on_end
        self._on_detach = on_detach
        self._closed = False

    def detached(self) -> None:
        """The client typed the detach keys: the stream ends, the process goes on."""
        if self._on_detach is not None:
            self._on_detach()

    def connect(self, conn: Any) -> None:
        """Called on the loop once the shim's socket is open (ShimConn from runtime.shim)."""
        self._conn = conn
        if not self._connected.done():
            self._connected.set_result(conn)

    def fail(self) -> None:
        """The process never started (start failed or the container was removed)."""
        if not self._connected.done():
            self._connected.set_result(None)

    @property
    def waiting(self) -> bool:
        return not self._connected.done()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self._backlog is not None:
            backlog, self._backlog = self._backlog, None
            try:
                async for stream, data in backlog:
                    if self._want.get(stream, False):
                        yield stream, data
            finally:
                aclose = getattr(backlog, "aclose", None)
                if aclose is not None:
                    await aclose()
        conn = await self._connected
        if conn is None:
            return
        ended = False
        try:
            while True:
                frame = await conn.read_frame()
                if frame is None:
                    ended = True
                    break
                stream, data = frame
                if self._want.get(stream, False):
                    yield stream, data
        finally:
            if self._on_end is not None:
                await self._on_end(ended)

    async def write_stdin(self, data: bytes) -> None:
        if not self._stdin:
            return
        conn = await self._connected
        if conn is not None:
            await conn.write_stdin(data)

    async def close_stdin(self) -> None:
        if not self._stdin:
            return
        conn = await self._connected
        if conn is not None:
            await conn.close_stdin()

    async def resize(self, height: int, width: int) -> None:
        conn = await self._connected
        if conn is not None:
            await conn.resize(height, width)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.fail()
        if self._conn is not None:
            await self._conn.close()
