"""The volume service (S8) behind `/volumes`: create, inspect, list with Docker's filters, remove,
prune; and the per-volume usage `system df` reports (S5)."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Hashable
from typing import Any

from dockyard import errors
from dockyard.services.protocols import Filters, Json
from dockyard.state.volumes import VolumeRecord
from dockyard.volumes import specs
from dockyard.volumes.store import ANONYMOUS_LABEL, VolumeStore

LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for w in wanted:
        key, eq, value = w.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _bool_filter(key: str, values: list[str]) -> bool:
    v = values[-1].lower()
    if v not in _TRUE + _FALSE:
        raise errors.InvalidParameter(f"invalid filter '{key}={values[-1]}'")
    return v in _TRUE


def _check_keys(filters: Filters, allowed: tuple[str, ...]) -> None:
    for key in filters:
        if key not in allowed:
            raise errors.InvalidParameter(f"invalid filter '{key}'")


class Volumes:
    def __init__(self, store: VolumeStore) -> None:
        self.store = store

    def _view(self, rec: VolumeRecord) -> Json:
        return {
            "CreatedAt": rec.created,
            "Driver": rec.driver,
            "Labels": rec.labels,
            "Mountpoint": self.store.mountpoint(rec.name),
            "Name": rec.name,
            "Options": rec.options,
            "Scope": "local",
        }

    def create(self, body: Json) -> Json:
        if not isinstance(body, dict):
            raise errors.InvalidParameter("invalid JSON: volume create body must be an object")
        name = str(body.get("Name") or "") or secrets.token_hex(32)
        specs.validate_volume_name(name)
        driver = str(body.get("Driver") or "local")
        rec, _ = self.store.ensure(
            name, driver, body.get("Labels") or None, body.get("DriverOpts") or None
        )
        return self._view(rec)

    def create_nowait(self, body: Json) -> Json | None:
        """`create` on the caller's thread if the store's lock is free right now, else None.
        The API runs this on the event loop: the work (two mkdirs, one SQLite insert, no fsync)
        takes ~0.1 ms, less than a hop to a worker thread, and it never waits there behind a
        slow holder of the lock (a remove's rmtree)."""
        if not self.store.lock.acquire(blocking=False):
            return None
        try:
            return self.create(body)
        finally:
            self.store.lock.release()

    def inspect(self, name: str) -> Json:
        return self._view(self.store.get(name))

    def list(self, filters: Filters) -> Json:
        _check_keys(filters, LIST_FILTERS)
        dangling = (
            _bool_filter("dangling", filters["dangling"]) if filters.get("dangling") else None
        )
        refs = self.store.ref_counts()
        out: builtins.list[Json] = []
        for rec in self.store.all():
            if dangling is not None and dangling == (refs.get(rec.name, 0) > 0):
                continue
            if filters.get("name") and not any(n in rec.name for n in filters["name"]):
                continue
            if filters.get("driver") and rec.driver not in filters["driver"]:
                continue
            if filters.get("label") and not _labels_match(rec.labels or {}, filters["label"]):
                continue
            out.append(self._view(rec))
        return {"Volumes": out, "Warnings": None}

    def remove(self, name: str, force: bool) -> None:
        self.store.remove(name, force)

    def prune(self, filters: Filters, all_by_default: bool) -> Json:
        """Unused volumes. Since API 1.42 only anonymous ones unless `all=true`; volumes with
        mount options are never pruned (their data lives elsewhere), as in dockerd."""
        _check_keys(filters, PRUNE_FILTERS)
        everything = _bool_filter("all", filters["all"]) if filters.get("all") else all_by_default
        deleted: builtins.list[str] = []
        reclaimed = 0
        for rec in self.store.all():
            labels = rec.labels or {}
            if rec.options or (not everything and ANONYMOUS_LABEL not in labels):
                continue
            if filters.get("label") and not _labels_match(labels, filters["label"]):
                continue
            if filters.get("label!") and any(_labels_match(labels, [w]) for w in filters["label!"]):
                continue
            if self.store.users_of(rec.name):
                continue
            size = self.store.driver.size(rec.name)
            try:
                self.store.remove(rec.name)
            except errors.Conflict:
                continue  # taken by a container created meanwhile
            deleted.append(rec.name)
            reclaimed += size
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def usage(
        self, stamp: Callable[[str], Hashable | None] = lambda name: None
    ) -> builtins.list[Json]:
        """`system df` rows: volumes without mount options, with {Size, RefCount}; `stamp`
        lets an unchanged volume's size come from the cache (storage/usage.py)."""
        refs = self.store.ref_counts()
        out: builtins.list[Json] = []
        for rec in self.store.all():
            if rec.options:
                continue
            row: dict[str, Any] = self._view(rec)
            row["UsageData"] = {
                "Size": self.store.driver.size(rec.name, stamp(rec.name)),
                "RefCount": refs.get(rec.name, 0),
            }
            out.append(row)
        return out
