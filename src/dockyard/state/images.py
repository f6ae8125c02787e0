"""Image records and tags (S1, E3).

An image row keeps what list/inspect need without reading blobs or walking disks: the config digest
(= the image id), the top layer's chain id (None for an image without layers), the parent image
(commit), the creation time from the config and the size summed from stored layer sizes.
A tag row maps one fully-qualified reference ("docker.io/library/busybox:latest") to an image.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from dockyard.state.db import Cursor, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    config_digest TEXT NOT NULL,
    top_chain_id TEXT,
    parent TEXT,
    created TEXT NOT NULL,
    created_unix REAL NOT NULL,
    size INTEGER NOT NULL,
    last_tag_time TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS images_parent ON images(parent);
CREATE TABLE IF NOT EXISTS image_tags (
    reference TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id),
    added_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS image_tags_image ON image_tags(image_id)
"""


@dataclass(frozen=True)
class ImageRecord:
    id: str  # "sha256:<hex>"
    config_digest: str
    top_chain_id: str | None
    parent: str | None
    created: str  # RFC3339Nano, from the config
    created_unix: float
    size: int
    last_tag_time: str = ""


def _record(row: sqlite3.Row) -> ImageRecord:
    return ImageRecord(
        row["id"],
        row["config_digest"],
        row["top_chain_id"],
        row["parent"],
        row["created"],
        row["created_unix"],
        row["size"],
        row["last_tag_time"],
    )


class ImageRepo:
    """Reads go straight to the database; writes take the caller's transaction cursor so one
    image change (record + tags) commits at once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- images ---------------------------------------------------------------------------

    def insert(self, c: Cursor, rec: ImageRecord) -> None:
        c.execute(
            "INSERT INTO images (id, config_digest, top_chain_id, parent, created, created_unix,"
            " size, last_tag_time) VALUES (?,?,?,?,?,?,?,?)",
            (
                rec.id,
                rec.config_digest,
                rec.top_chain_id,
                rec.parent,
                rec.created,
                rec.created_unix,
                rec.size,
                rec.last_tag_time,
            ),
        )

    def delete(self, c: Cursor, image_id: str) -> None:
        c.execute("DELETE FROM image_tags WHERE image_id=?", (image_id,))
        c.execute("UPDATE images SET parent=NULL WHERE parent=?", (image_id,))
        c.execute("DELETE FROM images WHERE id=?", (image_id,))

    def get(self, image_id: str) -> ImageRecord | None:
        r = self.db.query_one("SELECT * FROM images WHERE id=?", (image_id,))
        return _record(r) if r else None

    def all(self) -> list[ImageRecord]:
        rows = self.db.query("SELECT * FROM images ORDER BY created_unix DESC, id")
        return [_record(r) for r in rows]

    def by_prefix(self, hex_prefix: str) -> list[ImageRecord]:
        """Images whose id starts with `sha256:<hex_prefix>` (short-id lookups)."""
        like = "sha256:" + hex_prefix.replace("%", "").replace("_", "") + "%"
        rows = self.db.query("SELECT * FROM images WHERE id LIKE ? LIMIT 2", (like,))
        return [_record(r) for r in rows]

    def children(self, image_id: str) -> list[str]:
        rows = self.db.query("SELECT id FROM images WHERE parent=?", (image_id,))
        return [r["id"] for r in rows]

    def set_last_tag_time(self, c: Cursor, image_id: str, when: str) -> None:
        c.execute("UPDATE images SET last_tag_time=? WHERE id=?", (when, image_id))

    # ---- tags -----------------------------------------------------------------------------

    def tag(self, c: Cursor, reference: str, image_id: str, added_ns: int) -> str | None:
        """Point `reference` at `image_id`; returns the image it pointed at before, if another."""
        r = c.query_one("SELECT image_id FROM image_tags WHERE reference=?", (reference,))
        previous: str | None = r["image_id"] if r else None
        if previous == image_id:
            return None
        c.execute(
            "INSERT INTO image_tags (reference, image_id, added_ns) VALUES (?,?,?)"
            " ON CONFLICT(reference) DO UPDATE SET image_id=excluded.image_id,"
            " added_ns=excluded.added_ns",
            (reference, image_id, added_ns),
        )
        return previous

    def untag(self, c: Cursor, reference: str) -> None:
        c.execute("DELETE FROM image_tags WHERE reference=?", (reference,))

    def lookup(self, reference: str) -> str | None:
        r = self.db.query_one("SELECT image_id FROM image_tags WHERE reference=?", (reference,))
        return r["image_id"] if r else None

    def references(self, image_id: str) -> list[str]:
        """Fully-qualified references of one image, oldest tag first (Docker's RepoTags order)."""
        rows = self.db.query(
            "SELECT reference FROM image_tags WHERE image_id=? ORDER BY added_ns, reference",
            (image_id,),
        )
        return [r["reference"] for r in rows]

    def all_references(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self.db.query("SELECT reference, image_id FROM image_tags ORDER BY added_ns"):
            out.setdefault(r["image_id"], []).append(r["reference"])
        return out
