"""The metadata database: one SQLite file in WAL mode.

Each repository module (state/layers.py, state/images.py, ...) declares its own `SCHEMA` (idempotent
`CREATE TABLE IF NOT EXISTS ...` statements) and registers it with `Database.open(schemas=[...])`.
Every state change runs in one `with db.tx() as c:` transaction, so a crash leaves either the old
or the new state. The connection is shared by threads behind a lock (the daemon runs blocking
storage work in worker threads).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Database:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path | str, schemas: Iterable[str] = ()) -> Database:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = cls(conn)
        with db.tx() as c:
            for schema in schemas:
                c.executescript_in_tx(schema)
        return db

    @contextmanager
    def tx(self) -> Iterator[Cursor]:
        """One transaction; committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, tuple(params)).fetchone()
            return row

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
