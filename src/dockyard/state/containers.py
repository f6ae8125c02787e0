"""Container records: the record's JSON text (containercodec.py) stored whole, with the columns
SQLite must index or keep unique (id, name) beside it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from dockyard import errors
from dockyard.core import linkspec
from dockyard.core.container import ContainerRecord
from dockyard.state.containercodec import decode, encode
from dockyard.state.db import Cursor, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    image_id TEXT NOT NULL,
    doc TEXT NOT NULL
)
"""


def _row(r: Any) -> ContainerRecord:
    return decode(r["id"], r["name"], r["created"], r["image_id"], r["doc"])


class ContainerRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        # id -> (stored doc text, record parsed from it): listings re-parse only what changed
        self._views: dict[str, tuple[str, ContainerRecord]] = {}
        # changes with every write of a record (after it is committed): what was read under one
        # value is still what the store holds while it is unchanged (queries.inspect_encoded).
        # Each write takes a value never used before (next() on a count is atomic), so writers
        # racing each other can never leave it at a value a reader already saw.
        self._generations = itertools.count(1)
        self.generation = 0
        # the last full listing and the generation it was read under: `ps` again with nothing
        # written since is answered without reading the table (D-scale-9)
        self._listing: tuple[int, list[ContainerRecord]] | None = None

    def insert(self, c: Cursor, rec: ContainerRecord) -> None:
        c.execute(
            "INSERT INTO containers (id, name, created, image_id, doc) VALUES (?,?,?,?,?)",
            (rec.id, rec.name, rec.created, rec.image_id, encode(rec)),
        )
        self.generation = next(self._generations)

    def save(self, rec: ContainerRecord) -> None:
        with self.db.tx() as c:
            c.execute(
                "UPDATE containers SET name=?, doc=? WHERE id=?",
                (rec.name, encode(rec), rec.id),
            )
        self.generation = next(self._generations)

    def delete(self, cid: str) -> None:
        with self.db.tx() as c:
            c.execute("DELETE FROM containers WHERE id=?", (cid,))
        self.generation = next(self._generations)
        self._views.pop(cid, None)  # a parsed record is kept only while it is stored

    def _row_by_id(self, cid: str) -> Any:
        return self.db.query_one("SELECT * FROM containers WHERE id=?", (cid,))

    def _row_by_name(self, name: str) -> Any:
        return self.db.query_one("SELECT * FROM containers WHERE name=?", (name,))

    def get(self, cid: str) -> ContainerRecord | None:
        r = self._row_by_id(cid)
        return _row(r) if r else None

    def by_name(self, name: str) -> ContainerRecord | None:
        r = self._row_by_name(name)
        return _row(r) if r else None

    def resolve(self, ref: str) -> ContainerRecord:
        """A name, full id or unique id prefix (Docker's order); NotFound in Docker's words."""
        return self._resolve(ref, _row)

    def view(self, ref: str) -> ContainerRecord:
        """resolve() for read-only callers (`stats`): a record whose stored text is unchanged
        since it was last parsed for a view is that same object (see all_views), so many
        requests at once for the same containers hold one parsed copy each, not one per
        request. Callers must never mutate it."""
        return self._resolve(ref, self._view_of)

    def _view_of(self, r: Any) -> ContainerRecord:
        cached = self._views.get(r["id"])
        if cached is not None and cached[0] == r["doc"] and cached[1].name == r["name"]:
            return cached[1]
        rec = _row(r)
        self._views[rec.id] = (r["doc"], rec)
        return rec

    def _resolve(self, ref: str, parse: Callable[[Any], ContainerRecord]) -> ContainerRecord:
        ref = ref[1:] if ref.startswith("/") else ref
        r = self._row_by_id(ref) or self._row_by_name(ref)
        if r:
            return parse(r)
        rec = self.by_link(ref)
        if rec:
            return rec
        if ref:
            found = self._rows_with_prefix(ref)
            if len(found) == 1:
                return parse(found[0])
            if len(found) > 1:
                raise errors.InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise errors.no_such_container(ref)

    def link_of(self, ref: str) -> tuple[ContainerRecord, str] | None:
        """A legacy link's name, `parent/alias`: the parent and its stored HostConfig.Links
        entry (dockerd registers link names beside container names)."""
        parent_name, sep, alias = ref.lstrip("/").rpartition("/")
        parent = self.by_name(parent_name) if sep and parent_name else None
        if parent is None:
            return None
        for spec in parent.host_config.get("Links") or []:
            if linkspec.parse(spec).alias == alias:
                return parent, spec
        return None

    def by_link(self, ref: str) -> ContainerRecord | None:
        """The container a legacy link's name (`parent/alias`) points to."""
        found = self.link_of(ref) if "/" in ref else None
        return self.by_name(linkspec.parse(found[1]).name) if found else None

    def by_id_prefix(self, prefix: str) -> list[ContainerRecord]:
        return [_row(r) for r in self._rows_with_prefix(prefix)]

    def _rows_with_prefix(self, prefix: str) -> list[Any]:
        return self.db.query(
            "SELECT * FROM containers WHERE id >= ? AND id < ?", (prefix, prefix + "\uffff")
        )

    def names(self) -> set[str]:
        return {r["name"] for r in self.db.query("SELECT name FROM containers")}

    def all(self) -> list[ContainerRecord]:
        return [_row(r) for r in self.db.query("SELECT * FROM containers ORDER BY created DESC")]

    def all_views(self) -> list[ContainerRecord]:
        """Every record, newest first, for read-only listings (`ps`): a record whose stored
        text is unchanged since the last listing is the same parsed object, sparing the JSON
        decode that dominates `ps` with many containers. Callers must never mutate them; a
        change goes through get() + save(), which changes the text and so the next view.
        With no record written since the last listing, that listing is the answer: no read."""
        generation = self.generation  # read before the rows: it can only make them look older
        listing = self._listing
        if listing is not None and listing[0] == generation:
            return list(listing[1])
        rows = self.db.query("SELECT * FROM containers ORDER BY created DESC")
        views, out = self._views, []
        fresh: dict[str, tuple[str, ContainerRecord]] = {}
        for r in rows:
            cached = views.get(r["id"])
            if cached is not None and cached[0] == r["doc"] and cached[1].name == r["name"]:
                rec = cached[1]
            else:
                rec = _row(r)
            fresh[rec.id] = (r["doc"], rec)
            out.append(rec)
        self._views = fresh  # one swap: concurrent listings each see a consistent map
        self._listing = (generation, out)
        return list(out)

    def in_use(self, image_id: str) -> bool:
        return bool(self.db.query_one("SELECT 1 FROM containers WHERE image_id=?", (image_id,)))

    def using_image(self, image_id: str) -> list[ContainerRecord]:
        return [
            _row(r) for r in self.db.query("SELECT * FROM containers WHERE image_id=?", (image_id,))
        ]
