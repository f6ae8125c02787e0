"""The `local` log driver's file format (moby daemon/logger/local), which dockyard-shim writes:
each entry is a protobuf `LogEntry` framed by its size, `[u32 BE size][entry][u32 BE size]`,
so the file can be walked from either end (tail seeks back frame by frame).

    LogEntry: 1 source (string), 2 time_nano (int64), 3 line (bytes, without its newline),
              4 partial (bool), 5 partial_log_metadata {1 last, 2 id, 3 ordinal}, 6 attrs
A complete line is read back with its newline; the pieces of a line longer than 16 KiB (and an
unterminated last line) are partial: only the last piece of a long line gets the newline."""

from __future__ import annotations

import struct
from typing import BinaryIO

SIZE = struct.Struct(">I")
MAX_ENTRY = 1024 * 1024  # moby's maxMsgLen; anything larger is a broken frame
_STREAMS = {b"stdout": 1, b"stderr": 2}


class CorruptLog(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise CorruptLog("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> dict[int, int | bytes]:
    """The last value of each field number (wire types 0, 1, 2 and 5)."""
    out: dict[int, int | bytes] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            out[num], i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            out[num], i = buf[i : i + n], i + n
        elif wire == 1:
            out[num], i = int.from_bytes(buf[i : i + 8], "little"), i + 8
        elif wire == 5:
            out[num], i = int.from_bytes(buf[i : i + 4], "little"), i + 4
        else:
            raise CorruptLog(f"wire type {wire}")
    return out


def decode_entry(body: bytes) -> tuple[int, bytes, int]:
    """(stream id, data as `docker logs` prints it, unix time in nanoseconds)."""
    f = _fields(body)
    source = f.get(1, b"stdout")
    line = f.get(3, b"")
    nanos = f.get(2, 0)
    assert isinstance(line, bytes) and isinstance(nanos, int)
    ends = not f.get(4)
    meta = f.get(5)
    if not ends and isinstance(meta, bytes):
        ends = bool(_fields(meta).get(1))  # the last piece of a long line
    stream = _STREAMS.get(source, 1) if isinstance(source, bytes) else 1
    return stream, line + b"\n" if ends else line, nanos


def split(buf: bytes) -> tuple[list[bytes], int]:
    """The complete frames' bodies at the start of `buf`, and how many bytes they use."""
    bodies: list[bytes] = []
    off = 0
    while len(buf) - off >= SIZE.size:
        (size,) = SIZE.unpack_from(buf, off)
        if size > MAX_ENTRY:
            raise CorruptLog(f"log message is too large ({size} > {MAX_ENTRY})")
        end = off + size + 2 * SIZE.size
        if len(buf) < end:
            break
        bodies.append(buf[off + SIZE.size : off + SIZE.size + size])
        off = end
    return bodies, off


def tail_offset(f: BinaryIO, n: int) -> tuple[int, int]:
    """(offset where the last `n` entries start, how many entries that is: fewer when the file
    holds fewer), walking the trailing sizes back from the end."""
    pos = f.seek(0, 2)
    count = 0
    while pos > 0 and count < n:
        f.seek(pos - SIZE.size)
        (size,) = SIZE.unpack(f.read(SIZE.size))
        start = pos - size - 2 * SIZE.size
        if start < 0 or size > MAX_ENTRY:
            raise CorruptLog("broken frame at the end of the file")
        pos, count = start, count + 1
    return pos, count


def encode(source: str, nanos: int, line: bytes, partial: bool = False) -> bytes:
    """One framed entry (tests, and anything writing a local log from Python)."""

    def varint(v: int) -> bytes:
        out = bytearray()
        while True:
            b = v & 0x7F
            v >>= 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return bytes(out)

    body = b"\x0a" + varint(len(source)) + source.encode() + b"\x10" + varint(nanos)
    body += b"\x1a" + varint(len(line)) + line + (b"\x20\x01" if partial else b"")
    return SIZE.pack(len(body)) + body + SIZE.pack(len(body))
