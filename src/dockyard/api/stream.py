"""Docker's streaming encodings: 8-byte multiplexed frames for non-TTY stdio, newline-separated
JSON objects for progress and events, and raw byte streams (tar) fed from blocking iterators."""

from __future__ import annotations

import asyncio
import io
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any, BinaryIO

from aiohttp import web
from aiohttp.streams import StreamReader

from dockyard.api.codec import encode
from dockyard.api.errors import mark_started

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
_HEADER = struct.Struct(">BxxxL")


def frame(stream: int, data: bytes) -> bytes:
    """One frame: [stream, 0, 0, 0, len(be32)] + payload (stream 0 stdin, 1 stdout, 2 stderr)."""
    return _HEADER.pack(stream, len(data)) + data


def parse_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split complete frames off `buf`; returns them and the incomplete rest."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    while len(buf) - pos >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buf, pos)
        end = pos + _HEADER.size + size
        if end > len(buf):
            break
        frames.append((stream, buf[pos + _HEADER.size : end]))
        pos = end
    return frames, buf[pos:]


async def close_iterator(items: AsyncIterator[Any]) -> None:
    """Finish an async generator now (its cleanup may hold a file or a subscription) rather than
    whenever the garbage collector gets to it."""
    aclose = getattr(items, "aclose", None)
    if aclose is not None:
        await aclose()


def encode_output(tty: bool, stream: int, data: bytes) -> bytes:
    return data if tty else frame(stream, data)


async def start_stream(
    request: web.Request, content_type: str, status: int = 200
) -> web.StreamResponse:
    """Send headers now (chunked body follows): clients such as `docker wait` block on them."""
    resp = web.StreamResponse(status=status)
    resp.content_type = content_type
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    mark_started(request)
    return resp


async def write_json_stream(
    request: web.Request, items: AsyncIterator[Any], status: int = 200
) -> web.StreamResponse:
    resp = await start_stream(request, "application/json", status)
    async for item in items:
        await resp.write(encode(item))
    await resp.write_eof()
    return resp


async def write_bytes_stream(
    request: web.Request, chunks: Iterator[bytes], content_type: str
) -> web.StreamResponse:
    """Stream a blocking iterator (tar export/save): the first chunk is produced before any
    header is sent, so an error the service raises up front still gets a proper status."""
    source = threaded(chunks)
    first = await anext(source, None)
    resp = await start_stream(request, content_type)
    if first is not None:
        await resp.write(first)
        async for chunk in source:
            await resp.write(chunk)
    await resp.write_eof()
    return resp


async def threaded(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull a blocking iterator from a worker thread, one chunk at a time."""
    done = object()
    try:
        while True:
            chunk = await asyncio.to_thread(next, chunks, done)
            if chunk is done:
                return
            assert isinstance(chunk, bytes)
            yield chunk
    finally:
        # A client that went away must not leave a generator holding a mount or a file open.
        close = getattr(chunks, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


class BlockingBody(io.RawIOBase):
    """The request body as a blocking binary file, for services that read it (tar import, load)
    from a worker thread while the event loop keeps receiving it."""

    def __init__(self, content: StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._content = content
        self._loop = loop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        future = asyncio.run_coroutine_threadsafe(self._content.read(len(view)), self._loop)
        data = future.result()
        view[: len(data)] = data
        return len(data)


def body_file(request: web.Request) -> BinaryIO:
    """Call on the loop; hand the result to a worker thread."""
    raw = BlockingBody(request.content, asyncio.get_running_loop())
    return io.BufferedReader(raw, buffer_size=1 << 16)
