"""A layer's decompression on a thread of its own (E5): gunzip (zlib) or zstd (the zstandard
module, through images/compression.py) and the sha256 of the output (the diff ID) run beside the
tar extraction that reads it (all three let go of the GIL), a few MiB ahead at most, so a pull
uses both cores without holding a layer in memory. An uncompressed layer is read as it is."""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from dockyard import errors
from dockyard.images import compression

CHUNK = 1 << 20
AHEAD = 8  # chunks of decompressed data waiting for the reader, at most
_END = object()


class Inflater:
    """A readable stream of `src`'s decompressed bytes (gzip, possibly multi-member)."""

    def __init__(self, src: Any, kind: str = "gzip") -> None:
        self._src = src
        self._kind = kind  # "gzip" or "zstd"
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        self._sha = hashlib.sha256()  # the diff ID, hashed here, beside the extraction
        self._buf = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._run, name="inflate", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for out in self._chunks():
                self._sha.update(out)
                if self._stop.is_set() or not self._put(out):
                    return
            self._put(_END)
        except BaseException as e:  # noqa: BLE001 (raised in the reader)
            self._put(e)

    def _chunks(self) -> Iterator[bytes]:
        """The decompressed bytes, at most a chunk at a time: a text layer inflates 6x or
        more, and the queue's bound is what keeps the daemon's memory flat."""
        if self._kind == "zstd":
            reader = compression.decompressed(self._src)
            while out := reader.read(CHUNK):
                yield out
            return
        d = zlib.decompressobj(31)
        while data := self._src.read(CHUNK):
            while data:
                out = d.decompress(data, CHUNK)
                if out:
                    yield out
                if d.eof:  # another gzip member may follow
                    data = d.unused_data
                    d = zlib.decompressobj(31) if data else d
                else:
                    data = d.unconsumed_tail
        rest = d.flush()  # output zlib still held when the input ran out
        if rest:
            yield rest
        if not d.eof:
            raise errors.InvalidParameter("unexpected EOF")

    def readable(self) -> bool:
        return True

    def digest(self) -> str:
        """sha256 of everything decompressed: the layer's diff ID once the reader saw the end."""
        return "sha256:" + self._sha.hexdigest()

    def read(self, n: int = -1) -> bytes:
        if not self._buf:
            if self._done:
                return b""
            item = self._queue.get()
            if item is _END:
                self._done = True
                return b""
            if isinstance(item, BaseException):
                self._done = True
                raise item
            self._buf = memoryview(item)
        if n is None or n < 0 or n >= len(self._buf):
            out, self._buf = self._buf, memoryview(b"")
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return bytes(out)

    def close(self) -> None:
        """Stop the thread; one still waiting for download data ends when its source is
        closed after this (the caller's next step), so it is not waited for long."""
        self._stop.set()
        self._thread.join(timeout=1.0)


def opened(src: Any) -> tuple[BinaryIO, Inflater | None]:
    """The decompressed stream of a layer blob, and the inflater to close after (gzip)."""
    buffered = compression.peekable(src)
    kind = compression.compression(buffered.peek(6)[:6])
    if kind in ("gzip", "zstd"):
        inflater = Inflater(buffered, kind)
        return cast(BinaryIO, inflater), inflater
    return compression.decompressed(buffered), None
