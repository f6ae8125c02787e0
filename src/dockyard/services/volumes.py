"""The volume service (S8) behind `/volumes`: create, inspect, list with Docker's filters, remove,
prune; and the per-volume usage `system df` reports (S5)."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Hashable
from typing import Any

from dockyard import errors
from dockyard.core import filters as filters_
from dockyard.core.types import Filters, Json
from dockyard.state.volumes import VolumeRecord
from dockyard.volumes import specs
from dockyard.volumes.store import ANONYMOUS_LABEL, VolumeStore

LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")


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
        filters_.check_keys(filters, LIST_FILTERS)
        dangling = (
            filters_.bool_value("dangling", filters["dangling"])
            if filters.get("dangling")
            else None
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
            if not filters_.labels_match(rec.labels, filters.get("label") or []):
                continue
            out.append(self._view(rec))
        return {"Volumes": out, "Warnings": None}

    def remove(self, name: str, force: bool) -> None:
        self.store.remove(name, force)

    def prune(self, filters: Filters, all_by_default: bool) -> Json:
        """Unused volumes. Since API 1.42 only anonymous ones unless `all=true`; volumes with
        mount options are never pruned (their data lives elsewhere), as in dockerd."""
        wanted = filters_.prune_selector(
            {k: v for k, v in filters.items() if k != "all"}, 0.0, PRUNE_FILTERS
        )
        everything = (
            filters_.bool_value("all", filters["all"]) if filters.get("all") else all_by_default
        )
        deleted: builtins.list[str] = []
        reclaimed = 0
        for rec in self.store.all():
            labels = rec.labels or {}
            if rec.options or (not everything and ANONYMOUS_LABEL not in labels):
                continue
            if not wanted(0.0, labels):
                continue
            if self.store.users_of(rec.name):
                continue
            size = self.store.driver.size(rec.name)
            try:
                self.store.remove(rec.name, event=False)  # dockerd 20.10: no `destroy` here
            except errors.Conflict:
                continue  # taken by a container created meanwhile
            deleted.append(rec.name)
            reclaimed += size
        self.store.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
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
