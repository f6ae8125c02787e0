"""Volumes and who uses them (S8). One lock guards records and references, so a volume cannot
be removed between a container's create choosing it and that container being stored.

Lifecycle of a volume: `ensure` (create or reuse; records first, then the directory) ->
`reference(name, cid)` by each container that mounts it -> `dereference` at container rm ->
`remove` only when no container references it (409 otherwise).

References live in memory, seeded once from the stored containers (`users` callable), as
dockerd's volume store counts them; the container records stay the truth across restarts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from dockyard import errors
from dockyard.core import timefmt
from dockyard.crashpoints import crashpoint
from dockyard.state.db import Database
from dockyard.state.volumes import VolumeRecord, VolumeRepo
from dockyard.storage import usage
from dockyard.volumes import local
from dockyard.volumes.local import LocalDriver

log = logging.getLogger(__name__)

ANONYMOUS_LABEL = "com.docker.volume.anonymous"


class VolumeStore:
    def __init__(
        self,
        db: Database,
        driver: LocalDriver,
        users: Callable[[], Iterable[tuple[str, Iterable[str]]]],
        publish: Callable[[str, str, str, dict[str, str]], None] | None = None,
    ) -> None:
        self.repo = VolumeRepo(db)
        self._publish = publish  # EventBus.publish: "volume" create/destroy, as dockerd emits
        self.driver = driver
        self._users = users  # () -> [(container id, [volume names])]
        self._refs: dict[str, set[str]] | None = None
        self._records: dict[str, VolumeRecord] | None = None
        self.lock = threading.RLock()

    # ---- references ---------------------------------------------------------------------

    def _table(self) -> dict[str, set[str]]:
        if self._refs is None:
            refs: dict[str, set[str]] = {}
            for cid, names in self._users():
                for n in names:
                    refs.setdefault(n, set()).add(cid)
            self._refs = refs
        return self._refs

    def reference(self, name: str, cid: str) -> None:
        with self.lock:
            self._table().setdefault(name, set()).add(cid)
        # A cached size is keyed by its users' runs: a user that comes and goes between two
        # `system df` calls would leave the key as it was (storage/usage.py).
        usage.SIZES.forget(self.driver.mountpoint(name))

    def dereference(self, name: str, cid: str) -> None:
        with self.lock:
            users = self._table().get(name)
            if users is not None:
                users.discard(cid)
                if not users:
                    del self._table()[name]
        usage.SIZES.forget(self.driver.mountpoint(name))

    def users_of(self, name: str) -> list[str]:
        with self.lock:
            return sorted(self._table().get(name, ()))

    def ref_counts(self) -> dict[str, int]:
        with self.lock:
            return {n: len(c) for n, c in self._table().items()}

    # ---- records ------------------------------------------------------------------------

    def _map(self) -> dict[str, VolumeRecord]:
        """Every record by name, read from the database once. Only this store writes volume
        rows, under its lock; each write swaps in a new dict, so readers need no lock."""
        records = self._records
        if records is None:
            with self.lock:
                if self._records is None:
                    self._records = {r.name: r for r in self.repo.all()}
                records = self._records
        return records

    def get(self, name: str) -> VolumeRecord:
        rec = self._map().get(name)
        if rec is None:
            raise errors.NotFound(f"get {name}: no such volume")
        return rec

    def all(self) -> list[VolumeRecord]:
        return sorted(self._map().values(), key=lambda r: r.name)

    def ensure(
        self,
        name: str,
        driver: str = local.DRIVER,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        cid: str | None = None,
    ) -> tuple[VolumeRecord, bool]:
        """The volume `name`, created if missing; (record, created). With `cid`, the reference
        is taken under the same lock, so no remove can slip in between."""
        if driver != local.DRIVER:
            raise errors.NotFound(
                f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found'
            )
        local.validate_options(name, options or {})
        with self.lock:
            rec = self._map().get(name)
            created = rec is None
            if rec is None:
                rec = VolumeRecord(
                    name,
                    driver,
                    timefmt.rfc3339_seconds(),
                    dict(labels) if labels else None,
                    dict(options) if options else None,
                )
                self.driver.create(name)
                crashpoint("volume.after-create")
                try:
                    with self.repo.db.tx() as c:
                        self.repo.insert(c, rec)
                except BaseException:
                    self.driver.remove(name)
                    raise
                self._records = {**self._map(), name: rec}
            if cid is not None:
                self.reference(name, cid)
        self._event("create", name)  # dockerd: on every create, of a new volume or a known one
        return rec, created

    def reconcile(self) -> list[str]:
        """At daemon start: an empty volume directory no record names was made by a create
        the daemon did not live to record; it goes. One with files is kept (and logged)."""
        removed = []
        known = self._map()
        for name in self.driver.names():
            if name in known:
                continue
            if self.driver.is_empty(name):
                self.driver.remove(name)
                removed.append(name)
            else:
                log.warning("volume directory %s has no record and is not empty: kept", name)
        return removed

    def take(self, name: str, cid: str) -> VolumeRecord:
        """Reference an existing volume for `cid` (`--volumes-from`): never creates one."""
        with self.lock:
            rec = self.get(name)
            self.reference(name, cid)
            return rec

    def remove(self, name: str, force: bool = False, event: bool = True) -> bool:
        """Remove an unused volume; False when it did not exist and `force` was given.
        `event=False`: no `destroy` event (a prune's removals, as dockerd 20.10)."""
        with self.lock:
            if name not in self._map():
                if force:
                    return False
                raise errors.NotFound(f"get {name}: no such volume")
            users = self.users_of(name)
            if users:
                raise errors.Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            self.repo.delete(name)
            self._records = {n: r for n, r in self._map().items() if n != name}
            self.driver.remove(name)
        if event:
            self._event("destroy", name)
        return True

    def _event(self, action: str, name: str) -> None:
        self.publish("volume", action, name, {"driver": local.DRIVER})

    def publish(self, type: str, action: str, actor: str, attributes: dict[str, str]) -> None:
        if self._publish is not None:
            self._publish(type, action, actor, attributes)

    def mountpoint(self, name: str) -> str:
        return self.driver.mountpoint(name)
