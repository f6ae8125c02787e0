"""Volume records (S8): name, driver, labels, driver options, creation time. References from
containers are not stored here: they are derived from container records (volumes/store.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.state.db import Cursor, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    created TEXT NOT NULL,
    labels TEXT NOT NULL,
    options TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class VolumeRecord:
    name: str
    driver: str
    created: str  # RFC 3339, seconds, as `volume inspect` shows CreatedAt
    labels: dict[str, str] | None = field(default=None)  # None: created without labels
    options: dict[str, str] | None = field(default=None)


def _row(r: Any) -> VolumeRecord:
    labels, options = r["labels"], r["options"]
    return VolumeRecord(
        r["name"],
        r["driver"],
        r["created"],
        None if labels == "null" else json.loads(labels),  # the common case, decoded for free
        None if options == "null" else json.loads(options),
    )


class VolumeRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, c: Cursor, rec: VolumeRecord) -> None:
        c.execute(
            "INSERT INTO volumes (name, driver, created, labels, options) VALUES (?,?,?,?,?)",
            (rec.name, rec.driver, rec.created, json.dumps(rec.labels), json.dumps(rec.options)),
        )

    @staticmethod
    def get_in(c: Cursor, name: str) -> VolumeRecord | None:
        r = c.query_one("SELECT * FROM volumes WHERE name=?", (name,))
        return _row(r) if r else None

    def get(self, name: str) -> VolumeRecord | None:
        r = self.db.query_one("SELECT * FROM volumes WHERE name=?", (name,))
        return _row(r) if r else None

    def all(self) -> list[VolumeRecord]:
        return [_row(r) for r in self.db.query("SELECT * FROM volumes ORDER BY name")]

    def delete(self, name: str) -> None:
        with self.db.tx() as c:
            c.execute("DELETE FROM volumes WHERE name=?", (name,))
