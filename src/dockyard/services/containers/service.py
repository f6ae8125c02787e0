"""The container service (E4, S2-S6): the one object api/ calls for containers.

It builds the shared state (shared.py) and one collaborator per concern, each handed exactly
what it uses, and answers every call by handing it to the one that holds it:
    creation.py     create: validate, resolve the image, layers, dir, mounts, record
    lifecycle.py    start, stop, kill, restart, pause/unpause, wait, attach
    removal.py      rm (force: kill first), the cleanup behind it
    supervision.py  the one way to start a process, exit watching, OOMKilled, restart
                    policies, re-adoption after a daemon restart
    update.py       update: new limits and restart policy, applied live (runc update)
    queries.py      inspect, ps (sizes), changes, top, export, logs, rename
    stats.py        stats: cgroup and interface counters, one sample or a stream
    execs.py        exec instances
    health.py       healthchecks: the probe timer per running container, State.Health
Commit and prune stay here. Each multi-step setup runs under one Rollback so a failure leaves
nothing half-made.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

from dockyard import errors
from dockyard.config import Config
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord
from dockyard.core.events import EventBus
from dockyard.core.filters import prune_selector
from dockyard.core.findings import Finding
from dockyard.core.locks import KeyedLocks
from dockyard.core.types import AttachOptions, Filters, Json
from dockyard.crashpoints import crashpoint
from dockyard.images import reference
from dockyard.services.containers.consistency import ContainerCheck
from dockyard.services.containers.creation import Creation
from dockyard.services.containers.execs import Execs
from dockyard.services.containers.health import Health
from dockyard.services.containers.launcher import Launcher
from dockyard.services.containers.lifecycle import Lifecycle
from dockyard.services.containers.queries import Queries
from dockyard.services.containers.removal import Removal
from dockyard.services.containers.sessions import ShimSession
from dockyard.services.containers.shared import ContainerShared, ImageResolver
from dockyard.services.containers.stats import InterfaceStats, Stats
from dockyard.services.containers.supervision import Supervision
from dockyard.services.containers.update import Update
from dockyard.state.containers import ContainerRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


class Containers:
    def __init__(
        self,
        cfg: Config,
        repo: ContainerRepo,
        layers: LayerStore,
        images: ImageResolver,
        events: EventBus,
        launcher: Launcher,
        locks: KeyedLocks,
        interfaces: InterfaceStats | None = None,
    ) -> None:
        self.shared = shared = ContainerShared(cfg, repo, layers, images, events, launcher, locks)
        self.repo = repo
        self.creation = Creation(shared)
        self.removal = Removal(shared)
        self.execs = Execs(shared)
        self.health = Health(shared, self.execs)
        self.supervision = Supervision(shared, self.removal, self.health)
        self.lifecycle = Lifecycle(shared, self.supervision, self.removal, self.health)
        self.updates = Update(shared)
        self.queries = Queries(shared, self.execs)
        self.stats = Stats(shared, launcher.cgroups, interfaces)
        self.consistency = ContainerCheck(shared, self.supervision)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.shared.loop = loop

    def get(self, ref: str) -> ContainerRecord:
        return self.shared.get(ref)

    async def exited(self, cid: str) -> asyncio.Future[int]:
        """A future for the container's next exit code (register it before starting)."""
        return await self.shared.exited(cid)

    # ---- creation, lifecycle, removal, supervision ---------------------------------------------

    def create(self, name: str | None, body: Json) -> Json:
        return self.creation.create(name, body)

    def start(self, ref: str) -> None:
        self.lifecycle.start(ref)

    async def stop(self, ref: str, signal: str | None, timeout: int | None) -> None:
        await self.lifecycle.stop(ref, signal, timeout)

    async def restart(self, ref: str, signal: str | None, timeout: int | None) -> None:
        await self.lifecycle.restart(ref, signal, timeout)

    async def kill(self, ref: str, signal: str) -> None:
        await self.lifecycle.kill(ref, signal)

    def update(self, ref: str, body: Json) -> Json:
        return self.updates.update(ref, body)

    def pause(self, ref: str) -> None:
        self.lifecycle.pause(ref)

    def unpause(self, ref: str) -> None:
        self.lifecycle.unpause(ref)

    async def wait_registered(self, ref: str, condition: str) -> int | asyncio.Future[int]:
        return await self.lifecycle.wait_registered(ref, condition)

    async def attach(self, ref: str, opts: AttachOptions) -> ShimSession:
        return await self.lifecycle.attach(ref, opts)

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        await self.removal.remove(ref, force, volumes)

    def remove_link(self, ref: str) -> None:
        self.removal.unlink(ref)

    def restore(self, recycled: bool = False) -> None:
        self.supervision.restore(recycled)

    def busy(self) -> str | None:
        """What only this process knows and a recycle would lose (recycle.py), or None."""
        if self.execs.running():
            return "an exec is running"
        if self.supervision.settling:
            return "an exit is being handled"
        return None

    def check(self, repair: bool) -> builtins.list[Finding]:
        """`system check`: records against layers, mounts, runc and the freezer."""
        return self.consistency.check(repair)

    # ---- queries ---------------------------------------------------------------------------

    def inspect(self, ref: str, size: bool = False) -> Json:
        return self.queries.inspect(ref, size)

    def inspect_encoded(self, ref: str, encode: Callable[[Json], bytes]) -> bytes:
        return self.queries.inspect_encoded(ref, encode)

    def inspect_kept(self, ref: str) -> bytes | None:
        return self.queries.inspect_kept(ref)

    def list(self, all: bool, limit: int, size: bool, filters: Filters) -> builtins.list[Json]:
        return self.queries.list(all, limit, size, filters)

    def rename(self, ref: str, new_name: str) -> None:
        self.queries.rename(ref, new_name)

    def changes(self, ref: str) -> builtins.list[Json]:
        return self.queries.changes(ref)

    def top(self, ref: str, ps_args: str) -> Json:
        return self.queries.top(ref, ps_args)

    def export(self, ref: str) -> Iterator[bytes]:
        return self.queries.export(ref)

    def resize(self, ref: str, height: int, width: int) -> None:
        self.queries.resize(ref, height, width)

    def logs(
        self,
        ref: str,
        *,
        follow: bool,
        stdout: bool,
        stderr: bool,
        since: float,
        until: float,
        timestamps: bool,
        tail: str,
    ) -> AsyncIterator[tuple[int, bytes]]:
        return self.queries.logs(
            ref, follow=follow, stdout=stdout, stderr=stderr, since=since, until=until,
            timestamps=timestamps, tail=tail,
        )  # fmt: skip

    async def stats_once(self, ref: str, one_shot: bool) -> Json:
        return await self.stats.once(ref, one_shot)

    async def stats_stream(self, ref: str) -> AsyncIterator[Json]:
        return await self.stats.stream(ref)

    # ---- commit / prune ------------------------------------------------------------------

    def commit(
        self,
        ref: str,
        *,
        repo: str | None,
        tag: str | None,
        author: str,
        comment: str,
        changes: builtins.list[str],
        pause: bool,
        config: Json | None,
    ) -> Json:
        shared = self.shared
        runc = shared.launcher.runc
        rec = shared.get(ref)
        # Best effort, as dockerd: a container that exits between its last recorded state and
        # the pause (a short command committed right after start) is committed unpaused.
        paused_here = pause and rec.state["Status"] == "running" and self._try(runc.pause, rec.id)
        if paused_here:
            shared.publish(rec, "pause")
            crashpoint("commit.after-pause")
        try:
            image_id = shared.images.commit(
                parent=rec.image_id,
                layer_tar=shared.layers.rw_tar(rec.id),
                container_config=rec.config,
                config_override=config,
                changes=changes,
                author=author,
                comment=comment,
                container_id=rec.id,
                repo=repo,
                tag=tag,
            )
            image_ref = f"{repo}:{tag}" if repo and tag else repo or ""
            shared.publish(rec, "commit", comment=comment, imageID=image_id,
                           imageRef=reference.familiar(image_ref) if image_ref else "")  # fmt: skip
            crashpoint("commit.after-image")
        finally:
            if paused_here:
                self._try(runc.resume, rec.id)
                shared.publish(rec, "unpause")  # dockerd's order: pause, tag, commit, unpause
        return {"Id": image_id}

    @staticmethod
    def _try(step: Callable[[str], None], cid: str) -> bool:
        try:
            step(cid)
        except errors.System as e:
            log.debug("commit of %s: %s", cid[:12], e)
            return False
        return True

    def prune(self, filters: Filters) -> Json:
        wanted = prune_selector(filters, time.time())  # until, label, label! as dockerd
        deleted = []
        reclaimed = 0
        for rec in self.repo.all():
            if rec.state["Status"] not in ("exited", "created", "dead"):
                continue
            if not wanted(timefmt.parse_rfc3339(rec.created), rec.config.get("Labels")):
                continue
            reclaimed += self.shared.layers.rw_size(rec.id)
            self.shared.run_on_loop(self.removal.remove_id(rec.id, force=False, volumes=False))
            deleted.append(rec.id)
        self.shared.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # ---- exec ------------------------------------------------------------------------------

    def exec_create(self, ref: str, body: Json) -> Json:
        return self.execs.create(self.get(ref), body)

    async def exec_start(self, exec_id: str, *, detach: bool, tty: bool) -> ShimSession | None:
        return await self.execs.start(exec_id, detach=detach, tty=tty)

    def exec_inspect(self, exec_id: str) -> Json:
        return self.execs.inspect(exec_id)

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.execs.resize(exec_id, height, width)
