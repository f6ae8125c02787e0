"""Reading a container's log (what dockyard-shim writes) for `docker logs`: json-file or local.

json-file: each line is `{"log": "...", "stream": "stdout"|"stderr", "time": "<RFC3339Nano>"}`;
local: size-framed protobuf entries (runtime/locallog.py). With `max-size` the shim rotates
`<log>` to `<log>.1` ... (`<log>.N.gz` with compress) and reading spans the set. Tail seeks
backwards from the end so `--tail 10` on a big log reads only its last blocks; follow polls the
file for appended entries until the container stops and the file is drained."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import gzip
import io
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from dockyard.runtime import locallog

log = logging.getLogger(__name__)

STREAMS = {"stdout": 1, "stderr": 2}
BLOCK = 64 * 1024
FOLLOW_POLL = 0.1


@dataclass(frozen=True)
class LogEntry:
    stream: int  # 1 stdout, 2 stderr
    data: bytes
    sec: int  # the entry's time, kept as integers so nanoseconds survive
    nsec: int

    @property
    def timestamp(self) -> float:
        return self.sec + self.nsec / 1e9

    def fixed_time(self) -> str:
        """RFC3339 with exactly nine fraction digits: the prefix `docker logs -t` prints."""
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.sec)) + f".{self.nsec:09d}Z"


def parse_time(text: str) -> tuple[int, int]:
    """RFC3339(Nano) -> (unix seconds, nanoseconds)."""
    if text.endswith("Z") and len(text) >= 20:
        sec = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
        frac = text[20:-1] if text[19] == "." else ""
        return sec, int(frac.ljust(9, "0")[:9] or 0)
    dt = datetime.fromisoformat(text)  # an explicit offset: rare, not written by our shim
    return int(dt.timestamp()), dt.microsecond * 1000


def parse_line(line: bytes) -> LogEntry | None:
    try:
        obj = json.loads(line)
        sec, nsec = parse_time(obj["time"])
        return LogEntry(STREAMS.get(obj.get("stream", "stdout"), 1), obj["log"].encode(), sec, nsec)
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("skipping a malformed log line: %.80r", line)
        return None


def tail_offset(f: BinaryIO, n: int) -> int:
    """Byte offset where the last `n` complete lines of the file start."""
    end = f.seek(0, 2)
    if n <= 0:
        return end
    pos, newlines = end, 0
    # The last byte is the final line's own newline: it does not start a new line.
    skip_last = True
    while pos > 0:
        size = min(BLOCK, pos)
        pos -= size
        f.seek(pos)
        block = f.read(size)
        for i in range(len(block) - 1, -1, -1):
            if block[i] != 0x0A:
                continue
            if skip_last and pos + i == end - 1:
                continue
            newlines += 1
            if newlines == n:
                return pos + i + 1
        skip_last = False
    return 0


def log_files(path: Path) -> list[Path]:
    """The set, oldest first: `<log>.N` ... `<log>.1` (rotated by the shim; `<log>.N.gz` once
    compressed, the plain file while its gzip runs), `<log>`."""
    rotated: list[Path] = []
    while True:
        older = path.with_name(f"{path.name}.{len(rotated) + 1}")
        packed = older.with_name(older.name + ".gz")
        if older.exists():
            rotated.append(older)
        elif packed.exists():
            rotated.append(packed)
        else:
            break
    return [*reversed(rotated), path]


def _open(p: Path) -> BinaryIO:
    """A log file for reading; a gzip'd one decompressed whole (rotated files are bounded by
    max-size). A plain rotated file the shim compressed meanwhile is read from its .gz."""
    if p.suffix != ".gz":
        try:
            return p.open("rb")
        except FileNotFoundError:
            if not p.with_name(p.name + ".gz").exists():
                raise
            p = p.with_name(p.name + ".gz")
    with gzip.open(p, "rb") as z:
        return io.BytesIO(z.read())


def _tail(f: BinaryIO, n: int, local: bool) -> tuple[int, int]:
    """(offset of the file's last `n` entries, how many entries from there: < n when the whole
    file holds fewer)."""
    if local:
        return locallog.tail_offset(f, n)
    start = tail_offset(f, n)
    if start > 0 or n <= 0:
        return start, n
    f.seek(0)  # the whole file is in the tail: count its lines
    count = 0
    while block := f.read(BLOCK):
        count += block.count(b"\n")
    return 0, count


def _tail_starts(files: list[Path], n: int, local: bool) -> list[tuple[Path, int]]:
    """Where to start reading each file so that only the last `n` entries of the set are read."""
    out: list[tuple[Path, int]] = []
    for i, p in enumerate(reversed(files)):
        try:
            with _open(p) as f:
                start, count = _tail(f, n, local)
        except FileNotFoundError:
            continue
        if count >= n or i == len(files) - 1:
            return [(p, start), *out]
        n -= count
        out.insert(0, (p, 0))
    return out


def _rotated_away(path: Path, f: BinaryIO) -> bool:
    """Has the shim renamed the file we read (a new live file exists) or truncated it?"""
    st = os.fstat(f.fileno())
    if f.tell() > st.st_size:
        f.seek(0)  # max-file 1: the shim truncated the file in place
        return False
    try:
        return os.stat(path).st_ino != st.st_ino
    except FileNotFoundError:
        return False


async def _chunks(
    path: Path, tail: int | None, follow: bool, is_running: Callable[[], bool], local: bool
) -> AsyncGenerator[bytes, None]:
    """The bytes of the log set from the tail start on; following the live file across
    rotations until the container stopped and everything is read."""
    files = log_files(path)
    starts = [(p, 0) for p in files] if tail is None else _tail_starts(files, tail, local)
    for p, offset in starts[:-1]:  # rotated files: complete, never written again
        with contextlib.suppress(FileNotFoundError), _open(p) as f:
            f.seek(offset)
            while chunk := f.read(BLOCK):
                yield chunk
    live, offset = starts[-1] if starts else (path, 0)
    try:
        f = live.open("rb")
    except FileNotFoundError:
        return
    try:
        f.seek(offset)
        while True:
            # Check before reading: lines written before the container stopped are then seen.
            running = follow and is_running()
            chunk = f.read(BLOCK)
            if chunk:
                yield chunk
                continue
            if follow and _rotated_away(path, f):
                while chunk := f.read(BLOCK):  # what was written just before the rename
                    yield chunk
                f.close()
                try:
                    f = path.open("rb")
                except FileNotFoundError:
                    return
                continue
            if not running:
                return
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        f.close()


async def read_logs(
    path: Path,
    *,
    follow: bool,
    stdout: bool,
    stderr: bool,
    since: float = 0,
    until: float = 0,
    timestamps: bool = False,
    tail: int | None = None,
    is_running: Callable[[], bool] = lambda: False,
    local: bool = False,
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (stream id, bytes) for `docker logs`, across rotated files (oldest first).
    `since`/`until` are unix times (0 = unset), `tail` None = everything, `local` the local
    driver's format. Follow ends once the container stopped and the file is drained."""
    wanted = {1} if stdout else set()
    if stderr:
        wanted.add(2)
    pending = b""
    chunks = _chunks(path, tail, follow, is_running, local)
    try:
        async for chunk in chunks:
            pending += chunk
            try:
                entries, pending = _entries(pending, local)
            except locallog.CorruptLog as e:
                log.warning("%s: %s", path, e)
                return
            for entry in entries:
                if entry is None or entry.stream not in wanted:
                    continue
                if since and entry.timestamp < since:
                    continue
                if until and entry.timestamp > until:
                    return
                prefix = (entry.fixed_time() + " ").encode() if timestamps else b""
                yield entry.stream, prefix + entry.data
            await asyncio.sleep(0)
    finally:
        await chunks.aclose()


def _entries(pending: bytes, local: bool) -> tuple[list[LogEntry | None], bytes]:
    """The complete entries at the start of `pending` and what is left (an entry cut short
    waits for the rest)."""
    if local:
        bodies, used = locallog.split(pending)
        out: list[LogEntry | None] = []
        for body in bodies:
            stream, data, nanos = locallog.decode_entry(body)
            out.append(LogEntry(stream, data, nanos // 10**9, nanos % 10**9))
        return out, pending[used:]
    lines = pending.split(b"\n")
    rest = lines.pop()
    return [parse_line(line) if line else None for line in lines], rest
