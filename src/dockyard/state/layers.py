"""Layer metadata (S1-S5): one row per read-only layer, one per container layer pair.

`refs` on a layer counts every holder: callers of register()/retain() (images), each child layer
and each container layer built directly on it. A layer is deleted when `refs` reaches zero. The
functions take the caller's transaction cursor, so a cascade of releases commits as one.
"""

from __future__ import annotations

from typing import Any

from dockyard.core.layers import Layer, RWLayer
from dockyard.state.db import Cursor, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT REFERENCES layers(chain_id),
    cache_id TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rw_layers (
    container_id TEXT PRIMARY KEY,
    mount_id TEXT NOT NULL UNIQUE,
    init_id TEXT NOT NULL UNIQUE,
    parent TEXT REFERENCES layers(chain_id)
)
"""


def _layer(r: Any) -> Layer:
    return Layer(r["chain_id"], r["diff_id"], r["parent"], r["cache_id"], r["size"])


def _rw(r: Any) -> RWLayer:
    return RWLayer(r["container_id"], r["mount_id"], r["init_id"], r["parent"])


class LayerRepo:
    """Reads go through the Database; writes take the caller's transaction cursor."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # read-only layers
    def get(self, chain_id: str) -> Layer | None:
        r = self.db.query_one("SELECT * FROM layers WHERE chain_id = ?", (chain_id,))
        return None if r is None else _layer(r)

    def all(self) -> list[Layer]:
        return [_layer(r) for r in self.db.query("SELECT * FROM layers ORDER BY chain_id")]

    def all_with_refs(self) -> list[tuple[Layer, int]]:
        rows = self.db.query("SELECT * FROM layers ORDER BY chain_id")
        return [(_layer(r), int(r["refs"])) for r in rows]

    def refs(self, chain_id: str) -> int:
        r = self.db.query_one("SELECT refs FROM layers WHERE chain_id = ?", (chain_id,))
        return 0 if r is None else int(r["refs"])

    @staticmethod
    def get_in(c: Cursor, chain_id: str) -> tuple[Layer, int] | None:
        r = c.query_one("SELECT * FROM layers WHERE chain_id = ?", (chain_id,))
        return None if r is None else (_layer(r), int(r["refs"]))

    @staticmethod
    def insert(c: Cursor, layer: Layer, refs: int) -> None:
        c.execute(
            "INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, refs)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (layer.chain_id, layer.diff_id, layer.parent, layer.cache_id, layer.size, refs),
        )

    @staticmethod
    def add_refs(c: Cursor, chain_id: str, delta: int) -> int:
        """Adjust and return the new count."""
        c.execute("UPDATE layers SET refs = refs + ? WHERE chain_id = ?", (delta, chain_id))
        r = c.query_one("SELECT refs FROM layers WHERE chain_id = ?", (chain_id,))
        return -1 if r is None else int(r["refs"])

    @staticmethod
    def delete(c: Cursor, chain_id: str) -> None:
        c.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))

    # container layers
    def get_rw(self, container_id: str) -> RWLayer | None:
        r = self.db.query_one("SELECT * FROM rw_layers WHERE container_id = ?", (container_id,))
        return None if r is None else _rw(r)

    def all_rw(self) -> list[RWLayer]:
        return [_rw(r) for r in self.db.query("SELECT * FROM rw_layers ORDER BY container_id")]

    @staticmethod
    def insert_rw(c: Cursor, rw: RWLayer) -> None:
        c.execute(
            "INSERT INTO rw_layers (container_id, mount_id, init_id, parent) VALUES (?, ?, ?, ?)",
            (rw.container_id, rw.mount_id, rw.init_id, rw.parent),
        )

    @staticmethod
    def delete_rw(c: Cursor, container_id: str) -> bool:
        """Whether there was a row to delete."""
        gone = c.execute("DELETE FROM rw_layers WHERE container_id = ?", (container_id,))
        return gone.rowcount > 0

    def known_dirs(self) -> set[str]:
        """Every overlay2 directory name the metadata accounts for."""
        names = {r["cache_id"] for r in self.db.query("SELECT cache_id FROM layers")}
        for r in self.db.query("SELECT mount_id, init_id FROM rw_layers"):
            names.update((r["mount_id"], r["init_id"]))
        return names
