"""Compressed layer and import streams: the format is read from the magic bytes (gzip, bzip2,
xz, zstd), never trusted from a media type or a file name."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import shutil
import subprocess
import threading
from typing import Any, BinaryIO, cast

from dockyard.errors import InvalidParameter

CHUNK = 1 << 20


def compression(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return "none"


class _Zstd(io.RawIOBase):
    """zstd through the zstd CLI (the standard library has none before Python 3.14), streamed:
    a feeder thread writes the compressed input while the caller reads the output."""

    def __init__(self, src: BinaryIO) -> None:
        if shutil.which("zstd") is None:
            raise InvalidParameter("zstd-compressed data needs the zstd program on the host")
        self._proc = subprocess.Popen(
            ["zstd", "-d", "-c", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._feeder = threading.Thread(target=self._feed, args=(src,), daemon=True)
        self._feeder.start()

    def _feed(self, src: BinaryIO) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            while chunk := src.read(CHUNK):
                stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass  # zstd stopped reading (bad stream, or the reader was closed): reported at EOF
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = cast(io.BufferedReader, self._proc.stdout).readinto(b)
        if n == 0:
            self._feeder.join()
            if self._proc.wait() != 0:
                raise InvalidParameter("invalid zstd stream")
        return n

    def close(self) -> None:
        if not self.closed and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        super().close()


class _ReadOnly(io.RawIOBase):
    """Adapts any object with read(n) (request bodies, tar members) for BufferedReader's peek."""

    def __init__(self, src: Any) -> None:
        self._src = src

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._src.read(len(b))
        b[: len(data)] = data
        return len(data)


def peekable(src: Any) -> io.BufferedReader:
    """`src` with peek(), for reading its magic bytes without consuming them."""
    return src if isinstance(src, io.BufferedReader) else io.BufferedReader(_ReadOnly(src))


def decompressed(src: BinaryIO) -> BinaryIO:
    """A reader of the uncompressed bytes of `src` (tar layers, import bodies)."""
    buffered = peekable(src)
    kind = compression(buffered.peek(6)[:6])
    if kind == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=buffered, mode="rb"))
    if kind == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(buffered, "rb"))
    if kind == "xz":
        return cast(BinaryIO, lzma.LZMAFile(buffered, "rb"))
    if kind == "zstd":
        return cast(BinaryIO, io.BufferedReader(_Zstd(buffered)))
    return cast(BinaryIO, buffered)
