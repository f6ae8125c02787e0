"""The container service (E4, S2-S6): the one object api/ calls for containers.

It owns the shared state (per-container locks, parked attach sessions, exit and remove waiters,
the exit watchers) and composes the verbs, one module each:
    creation.py     create: validate, resolve the image, layers, dir, mounts, record
    lifecycle.py    start, stop, kill, restart, pause/unpause, remove, wait, attach
    supervision.py  exit watching (pidfd on the shim), OOMKilled, restart policies, re-adoption
    queries.py      inspect, ps (sizes), changes, top, export, logs, rename
Commit, prune and exec delegation stay here. Each multi-step setup runs under one Rollback so
a failure leaves nothing half-made.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.config import Config
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord
from dockyard.core.events import EventBus
from dockyard.core.filters import prune_selector
from dockyard.core.types import Filters, Json
from dockyard.services.containers.creation import ContainerCreation
from dockyard.services.containers.execs import Execs
from dockyard.services.containers.launcher import Launcher
from dockyard.services.containers.lifecycle import ContainerLifecycle
from dockyard.services.containers.queries import ContainerQueries
from dockyard.services.containers.sessions import ShimSession
from dockyard.services.containers.supervision import ContainerSupervision
from dockyard.state.containers import ContainerRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


class Containers(ContainerCreation, ContainerLifecycle, ContainerQueries, ContainerSupervision):
    def __init__(
        self,
        cfg: Config,
        repo: ContainerRepo,
        layers: LayerStore,
        images: Any,
        events: EventBus,
        launcher: Launcher,
    ) -> None:
        self.cfg = cfg
        self.repo = repo
        self.layers = layers
        self.images = images
        self.events = events
        self.launcher = launcher
        self.loop: asyncio.AbstractEventLoop | None = None
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._create_lock = threading.Lock()
        # Per-container futures, touched on the loop only.
        self._exit_waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._remove_waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._parked: dict[str, list[ShimSession]] = {}  # attached before start
        self._parked_lock = threading.Lock()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self.execs = Execs(self)

    # ---- helpers -------------------------------------------------------------------------

    def _lock(self, cid: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(cid, threading.Lock())

    def get(self, ref: str) -> ContainerRecord:
        """Resolve a name, full id or unique id prefix (Docker's order)."""
        ref = ref.lstrip("/") if ref.startswith("/") else ref
        rec = self.repo.get(ref) or self.repo.by_name(ref)
        if rec:
            return rec
        if ref:
            found = self.repo.by_id_prefix(ref)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise errors.InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise errors.no_such_container(ref)

    def _publish(self, rec: ContainerRecord, action: str, **extra: str) -> None:
        attrs = {"image": rec.config.get("Image", ""), "name": rec.name}
        attrs.update({k: str(v) for k, v in (rec.config.get("Labels") or {}).items()})
        attrs.update(extra)
        self.events.publish("container", action, rec.id, attrs)

    def _on_loop(self, fn: Any, *args: Any) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(fn, *args)

    def container_dir(self, cid: str) -> Path:
        return self.cfg.containers_root / cid

    # ---- commit / prune ------------------------------------------------------------------

    def commit(
        self,
        ref: str,
        *,
        repo: str | None,
        tag: str | None,
        author: str,
        comment: str,
        changes: list[str],
        pause: bool,
        config: Json | None,
    ) -> Json:
        rec = self.get(ref)
        paused_here = False
        if pause and rec.state["Status"] == "running":
            self.launcher.runc.pause(rec.id)
            paused_here = True
        try:
            image_id = self.images.commit(
                parent=rec.image_id,
                layer_tar=self.layers.rw_tar(rec.id),
                container_config=rec.config,
                config_override=config,
                changes=changes,
                author=author,
                comment=comment,
                container_id=rec.id,
                repo=repo,
                tag=tag,
            )
        finally:
            if paused_here:
                self.launcher.runc.resume(rec.id)
        self._publish(rec, "commit", comment=comment)
        return {"Id": image_id}

    def prune(self, filters: Filters) -> Json:
        wanted = prune_selector(filters, time.time())  # until, label, label! as dockerd
        deleted = []
        reclaimed = 0
        for rec in self.repo.all():
            if rec.state["Status"] not in ("exited", "created", "dead"):
                continue
            if not wanted(timefmt.parse_rfc3339(rec.created), rec.config.get("Labels")):
                continue
            reclaimed += self.layers.rw_size(rec.id)
            assert self.loop is not None
            asyncio.run_coroutine_threadsafe(
                self._remove(rec.id, force=False, volumes=False), self.loop
            ).result()
            deleted.append(rec.id)
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # ---- exec (delegated) -------------------------------------------------------------------

    def exec_create(self, ref: str, body: Json) -> Json:
        return self.execs.create(self.get(ref), body)

    async def exec_start(self, exec_id: str, *, detach: bool, tty: bool) -> ShimSession | None:
        return await self.execs.start(exec_id, detach=detach, tty=tty)

    def exec_inspect(self, exec_id: str) -> Json:
        return self.execs.inspect(exec_id)

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.execs.resize(exec_id, height, width)
