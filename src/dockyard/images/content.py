"""The content store: immutable blobs by digest under `<data-root>/content/sha256/<hex>` (E3).

Lifecycle: `put`/`ingest` write into a temp file in `<data-root>/tmp`, fsync, then rename into place,
so a blob path either holds the complete verified bytes or does not exist. Blobs are never edited;
`delete` removes one. Image configs and the original layer tars (kept so `save` reproduces the exact
bytes whose digests the configs name) live here, and pulled manifests and compressed layer blobs;
images/contentrefs.py says what keeps each.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import InvalidParameter, NotFound

log = logging.getLogger(__name__)

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


def check_digest(digest: str) -> str:
    if not _DIGEST_RE.match(digest):
        raise InvalidParameter(f"invalid digest: {digest!r}")
    return digest


class ContentStore:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / check_digest(digest).removeprefix("sha256:")

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes, expected: str | None = None) -> str:
        return self.ingest([data], expected)

    def ingest(self, chunks: Iterable[bytes], expected: str | None = None) -> str:
        """Store a stream; returns its digest. With `expected`, a mismatch stores nothing."""
        h = hashlib.sha256()
        fd, name = tempfile.mkstemp(prefix="blob-", dir=self.tmp)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            digest = "sha256:" + h.hexdigest()
            if expected is not None and expected != digest:
                raise InvalidParameter(f"digest mismatch: expected {expected}, got {digest}")
            dest = self.path(digest)
            if dest.exists():
                tmp.unlink()
            else:
                tmp.chmod(0o644)
                os.replace(tmp, dest)
            return digest
        except BaseException:
            with suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def ingest_file(self, src: BinaryIO, expected: str | None = None) -> str:
        return self.ingest(iter(lambda: src.read(CHUNK), b""), expected)

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read_chunks(self, digest: str) -> Iterator[bytes]:
        with self.open(digest) as f:
            yield from iter(lambda: f.read(CHUNK), b"")

    def delete(self, digest: str) -> None:
        with suppress(FileNotFoundError):
            self.path(digest).unlink()

    def temp_entries(self) -> list[Path]:
        return sorted(self.tmp.iterdir())

    @staticmethod
    def remove_temp(entry: Path) -> None:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)

    def clean_tmp(self) -> int:
        """At daemon start nothing is being written: what tmp holds was left by a killed
        daemon (half-received blobs, pull spools, build contexts). Returns how many."""
        entries = self.temp_entries()
        for entry in entries:
            self.remove_temp(entry)
        return len(entries)

    def digests(self) -> list[str]:
        return ["sha256:" + p.name for p in (self.root / "sha256").iterdir() if p.is_file()]
