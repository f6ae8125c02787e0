"""A layer's download and its extraction run at the same time (E5): the downloader appends the
compressed bytes to a spool file as they arrive while the extractor reads the same file behind
it, waiting for more until the download is finished (or has failed, which the reader raises).
The finished spool is the compressed blob the content store keeps."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any


class Spool:
    def __init__(self, tmp_dir: Path) -> None:
        fd, name = tempfile.mkstemp(prefix="pull-", dir=tmp_dir)
        self.path = Path(name)
        self._w = os.fdopen(fd, "wb", buffering=0)
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()

    # ---- writer side ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self._w.write(data)
        with self._cond:
            self._size += len(data)
            self._cond.notify_all()

    def finish(self) -> None:
        self._w.close()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        if not self._w.closed:
            self._w.close()
        with self._cond:
            self._error = error
            self._done = True
            self._cond.notify_all()

    @property
    def size(self) -> int:
        return self._size

    def discard(self) -> None:
        if not self._w.closed:
            self._w.close()
        self.path.unlink(missing_ok=True)

    # ---- reader side ------------------------------------------------------------------------

    def reader(self) -> SpoolReader:
        return SpoolReader(self)

    def _wait(self, offset: int) -> int:
        """Bytes readable at `offset` (0 at the end of a finished download)."""
        with self._cond:
            while self._size <= offset and not self._done:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            return self._size - offset


class SpoolReader:
    """A blocking reader of a spool that may still be growing; `offset` is how far it got."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._f = open(spool.path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self.offset = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        available = self._spool._wait(self.offset)
        if available == 0:
            return b""
        want = available if n is None or n < 0 else min(n, available)
        data = self._f.read(want)
        self.offset += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()

    @property
    def closed(self) -> bool:
        return self._f.closed
