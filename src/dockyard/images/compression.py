"""Compressed layer and import streams: the format is read from the magic bytes (gzip, bzip2,
xz, zstd), never trusted from a media type or a file name."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
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
    """zstd with the zstandard module (the standard library has none before Python 3.14),
    streamed, frames read one after another; a corrupt stream is a 400."""

    def __init__(self, src: BinaryIO) -> None:
        import zstandard

        self._error = zstandard.ZstdError
        self._reader: Any = zstandard.ZstdDecompressor().stream_reader(
            src, read_size=CHUNK, read_across_frames=True, closefd=False
        )

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            return int(self._reader.readinto(b))
        except self._error:
            raise InvalidParameter("invalid zstd stream") from None

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
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
