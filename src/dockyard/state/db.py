"""The metadata database: one SQLite file in WAL mode.

Each repository module (state/layers.py, state/images.py, ...) declares its own `SCHEMA` (idempotent
`CREATE TABLE IF NOT EXISTS ...` statements) and registers it with `Database.open(schemas=[...])`.
Every state change runs in one `with db.tx() as c:` transaction, so a crash leaves either the old
or the new state. The connection is shared by threads behind a lock (the daemon runs blocking
storage work in worker threads).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dockyard import errors

# Disk space held for the database beyond its files' ends (fallocate KEEP_SIZE: the files do not
# change, their blocks are reserved), so that on a full disk removals still commit and free space.
RESERVE = 4 << 20
_FALLOC_FL_KEEP_SIZE = 1
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def reserve_space(path: Path, size: int = RESERVE, create: bool = False) -> None:
    """Best effort: a filesystem without fallocate, or already full, keeps what it has. Only
    before SQLite opens the file: closing any descriptor of a file drops every POSIX lock this
    process holds on it, SQLite's included (another process would then delete a live WAL)."""
    flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        return
    try:
        _libc.fallocate(fd, _FALLOC_FL_KEEP_SIZE, 0, max(size, os.fstat(fd).st_size))
    finally:
        os.close(fd)


class Database:
    def __init__(self, conn: sqlite3.Connection, path: str = "") -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._path = path

    @classmethod
    def open(cls, path: Path | str, schemas: Iterable[str] = ()) -> Database:
        if str(path) != ":memory:":
            # A WAL is reused from its start after each checkpoint and never truncated (no
            # journal_size_limit): blocks reserved past its end stay ours while the daemon
            # runs. An empty WAL is no hot journal: SQLite starts it as a new one.
            reserve_space(Path(path))
            reserve_space(Path(f"{path}-wal"), create=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = cls(conn, str(path))
        with db.tx() as c:
            for schema in schemas:
                c.executescript_in_tx(schema)
        return db

    @contextmanager
    def tx(self) -> Iterator[Cursor]:
        """One transaction; committed when the block ends, rolled back if it raises."""
        with self._lock, self._full_disk():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(self._conn)
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:  # e.g. a full disk at commit: the transaction must end
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _full_disk(self) -> Iterator[None]:
        """SQLite's "database or disk is full" in Docker's words for ENOSPC."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
                raise
            raise errors.System(f"write {self._path}: no space left on device") from e

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, tuple(params)).fetchone()
            return row

    def release_memory(self) -> None:
        """Give back SQLite's page cache (up to 2 MiB, filled by a load of many containers);
        an idle hook (heap.on_idle). Best effort: a closed or busy database keeps it."""
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA shrink_memory")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Cursor:
    """What a transaction body sees: execute statements, read rows."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, tuple(params))

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, tuple(params)).fetchone()
        return row

    def executescript_in_tx(self, script: str) -> None:
        # executescript() would COMMIT first; split instead so the schema lands in our transaction.
        for stmt in script.split(";"):
            if stmt.strip():
                self._conn.execute(stmt)
