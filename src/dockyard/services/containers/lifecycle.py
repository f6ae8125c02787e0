"""The lifecycle verbs (E4): start, stop, kill, restart, pause/unpause, remove, wait, attach.

    start    under the container's lock: the launcher mounts, builds the spec, spawns the shim
             (`runc create`), connects parked attach sessions, releases the process; then the
             exit watcher (supervision.py) takes over
    stop     signal, wait up to the timeout for the watcher's exit, then SIGKILL
    remove   (force: kill and wait first) cleanup, release mounts, delete layers, dir, record
Removal is removal.py's, exits and restarts supervision.py's."""

from __future__ import annotations

import asyncio
import logging
import signal as sig
from typing import Any

from dockyard import errors
from dockyard.core import detachkeys
from dockyard.core.container import ContainerRecord
from dockyard.core.types import AttachOptions
from dockyard.runtime import logopts
from dockyard.services.containers.health import Health
from dockyard.services.containers.removal import Removal
from dockyard.services.containers.sessions import ShimSession
from dockyard.services.containers.shared import ContainerShared, running
from dockyard.services.containers.supervision import Supervision

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(
        self, shared: ContainerShared, supervision: Supervision, removal: Removal, health: Health
    ) -> None:
        self.shared = shared
        self.health = health
        self.repo = shared.repo
        self.launcher = shared.launcher
        self.supervision = supervision
        self.removal = removal

    def start(self, ref: str) -> None:
        rec = self.shared.get(ref)
        with self.shared.lock(rec.id):
            rec = self.shared.get(rec.id)
            st = rec.state["Status"]
            if st == "paused":
                raise errors.Conflict("cannot start a paused container, try unpause instead")
            if st in ("running", "restarting"):
                raise errors.NotModified("container already started")
            rec.run.manually_stopped = False
            rec.run.restart_count = 0  # a user's start begins a new count, as dockerd's
            try:
                self.supervision.start_locked(rec)
                return
            except errors.DockyardError as e:
                error = e
        # Docker removes an AutoRemove container whose start failed (outside our lock: removal
        # takes it too), then reports the start error.
        if rec.host_config.get("AutoRemove") and self.shared.loop is not None:
            self.shared.run_on_loop(self.removal.remove_id(rec.id, force=True, volumes=True))
        raise error

    async def stop(self, ref: str, signal: str | None, timeout: int | None) -> None:
        rec = await asyncio.to_thread(self.shared.get, ref)
        if rec.state["Status"] == "restarting":
            await asyncio.to_thread(self._call_off_restart, rec.id)
            return
        if not running(rec):
            raise errors.NotModified("container already stopped")
        rec.run.manually_stopped = True
        await asyncio.to_thread(self.repo.save, rec)
        signo = _signal(signal or rec.config.get("StopSignal"))
        if timeout is None:
            timeout = rec.config.get("StopTimeout")
        if timeout is None:
            timeout = 10
        exited = await self.shared.exited(rec.id)
        await asyncio.to_thread(self.removal.signal, rec, signo)
        if rec.state["Status"] == "paused":
            await asyncio.to_thread(self.removal.thaw, rec)
        try:
            if timeout < 0:
                await exited
            else:
                await asyncio.wait_for(asyncio.shield(exited), timeout)
        except TimeoutError:
            await asyncio.to_thread(self.removal.signal, rec, sig.SIGKILL)
            await exited
        self.shared.publish(rec, "stop")

    async def kill(self, ref: str, signal: str) -> None:
        """dockerd's: SIGKILL (the default) returns once the container has exited; any other
        signal is only sent. Any kill counts as a stop by the user (unless-stopped)."""
        rec = await asyncio.to_thread(self.shared.get, ref)
        signo = _signal(signal or "SIGKILL")
        if rec.state["Status"] == "restarting":  # no process: the pending restart is called off
            await asyncio.to_thread(self._call_off_restart, rec.id)
            return
        if not running(rec):
            raise errors.Conflict(
                f"Cannot kill container: {ref}: Container {rec.id} is not running"
            )
        exited = await self.shared.exited(rec.id) if signo == sig.SIGKILL else None
        marked = await asyncio.to_thread(self._mark_stopped, rec.id)
        if marked is None:
            return  # it exited meanwhile: nothing left to kill
        rec = marked
        await asyncio.to_thread(self.removal.signal, rec, signo)
        if rec.state["Status"] == "paused" and signo == sig.SIGKILL:
            await asyncio.to_thread(self.removal.thaw, rec)
        if exited is not None:
            try:
                await asyncio.wait_for(exited, 10)
            except TimeoutError:
                raise errors.System(
                    "tried to kill container, but did not receive an exit event"
                ) from None

    def _mark_stopped(self, cid: str) -> ContainerRecord | None:
        """Under the lock the exit is recorded with: a running container is marked stopped by
        the user (and returned); None once it is no longer running."""
        with self.shared.lock(cid):
            rec = self.shared.get(cid)
            if not running(rec):
                return None
            rec.run.manually_stopped = True
            self.repo.save(rec)
            return rec

    def _call_off_restart(self, cid: str) -> None:
        with self.shared.lock(cid):
            rec = self.shared.get(cid)
            if rec.state["Status"] == "restarting":
                rec.run.manually_stopped = True
                rec.state.update(Status="exited", Restarting=False)
                self.repo.save(rec)

    async def restart(self, ref: str, signal: str | None, timeout: int | None) -> None:
        rec = await asyncio.to_thread(self.shared.get, ref)
        if running(rec):
            await self.stop(ref, signal, timeout)
        await asyncio.to_thread(self.start, rec.id)
        self.shared.publish(rec, "restart")

    def pause(self, ref: str) -> None:
        rec = self.shared.get(ref)
        with self.shared.lock(rec.id):
            rec = self.shared.get(rec.id)
            if rec.state["Status"] == "paused":
                raise errors.Conflict(f"Container {rec.id} is already paused")
            if rec.state["Status"] != "running":
                raise errors.Conflict(f"Container {rec.id} is not running")
            self.launcher.runc.pause(rec.id)
            rec.state.update(Status="paused", Paused=True)
            self.repo.save(rec)
        self.shared.on_loop(self.health.unwatch, rec.id)  # a paused container is not probed
        self.shared.publish(rec, "pause")

    def unpause(self, ref: str) -> None:
        rec = self.shared.get(ref)
        with self.shared.lock(rec.id):
            rec = self.shared.get(rec.id)
            if rec.state["Status"] != "paused":
                raise errors.Conflict(f"Container {rec.id} is not paused")
            self.launcher.runc.resume(rec.id)
            rec.state.update(Status="running", Paused=False)
            self.repo.save(rec)
        self.shared.on_loop(self.health.watch, rec)
        self.shared.publish(rec, "unpause")

    async def wait_registered(self, ref: str, condition: str) -> int | asyncio.Future[int]:
        """The exit code at once when `condition` already holds, else a future for it that is
        registered before this returns: an API handler sends its headers only then, so a
        `start` the client sends on seeing them can never exit unseen (#17)."""
        if condition not in ("next-exit", "removed"):
            condition = "not-running"  # dockerd 20.10: any other value, or none
        rec = await asyncio.to_thread(self.shared.get, ref)
        if condition == "not-running" and not (running(rec) or rec.state["Status"] == "restarting"):
            return int(rec.state["ExitCode"])
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        waiters = self.shared.remove_waiters if condition == "removed" else self.shared.exit_waiters
        waiters.setdefault(rec.id, []).append(fut)
        return fut

    async def attach(self, ref: str, opts: AttachOptions) -> ShimSession:
        detach_keys, stdout, stderr = opts.detach_keys, opts.stdout, opts.stderr
        try:
            keys = detachkeys.parse(detach_keys) if detach_keys else detachkeys.DEFAULT
        except ValueError:
            raise errors.InvalidParameter(f"Invalid detach keys ({detach_keys}) provided") from None
        rec = await asyncio.to_thread(self.shared.get, ref)
        if rec.state["Status"] == "paused":
            raise errors.Conflict(f"container {ref} is paused, unpause the container before attach")
        backlog = None
        if opts.logs and (rec.host_config.get("LogConfig") or {}).get("Type") != logopts.NONE:
            backlog = self.launcher.logs(rec, follow=False, stdout=stdout, stderr=stderr,
                                         tail=None, is_running=lambda: False)  # fmt: skip
        session = ShimSession(
            tty=bool(rec.config.get("Tty")),
            stdin=opts.stdin and bool(rec.config.get("OpenStdin")),
            stdout=stdout,
            stderr=stderr,
            detach_keys=keys,
            backlog=backlog,
            on_detach=lambda: self.shared.publish(rec, "detach"),  # as dockerd (#15, E6)
        )
        if not opts.stream:
            session.fail()
            return session
        # Never the per-container lock here: start() holds it while it waits for this loop.
        # Under _parked_lock a session either sees "running" (and connects itself) or is parked
        # before start() takes the parked list after saving "running".
        with self.shared.parked_lock:
            rec = self.shared.get(rec.id)
            running = rec.state["Status"] in ("running", "paused")
            if not running:
                self.shared.parked.setdefault(rec.id, []).append(session)
        if running:
            try:
                session.connect(await self.launcher.connect(rec))
            except OSError:
                session.fail()  # it exited meanwhile: nothing to attach to
        self.shared.publish(rec, "attach")
        return session


def _signal(value: Any) -> int:
    from dockyard.services.containers.signals import parse

    return parse(value)
