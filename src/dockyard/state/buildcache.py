"""The build cache (MISSION S1): which image a build step produced from a parent image.

A row maps (parent image id, step key) to the image the step made. The key is the instruction
with its arguments resolved (ARG/ENV expanded, build args that RUN sees) plus, for COPY/ADD, a
hash of the content and metadata of every file the step reads: so a step is reused only when
its parent and its inputs are the same. Rows whose image was deleted are ignored and replaced.
"""

from __future__ import annotations

import time

from dockyard.state.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS build_cache (
    parent TEXT NOT NULL,
    key TEXT NOT NULL,
    image_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (parent, key)
)
"""


class BuildCacheRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(self, parent: str, key: str) -> str | None:
        row = self.db.query_one(
            "SELECT image_id FROM build_cache WHERE parent = ? AND key = ?", (parent, key)
        )
        return None if row is None else str(row["image_id"])

    def store(self, parent: str, key: str, image_id: str) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO build_cache (parent, key, image_id, created) VALUES (?, ?, ?, ?)",
                (parent, key, image_id, time.time()),
            )

    def forget(self, image_ids: list[str]) -> None:
        with self.db.tx() as c:
            for image_id in image_ids:
                c.execute(
                    "DELETE FROM build_cache WHERE image_id = ? OR parent = ?", (image_id, image_id)
                )

    def prune(self) -> list[str]:
        """Drop every entry; returns the image ids they pointed at."""
        with self.db.tx() as c:
            rows = c.query("SELECT DISTINCT image_id FROM build_cache")
            c.execute("DELETE FROM build_cache")
        return [str(r["image_id"]) for r in rows]
