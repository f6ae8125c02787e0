"""The lifecycle verbs (E4): start, stop, kill, restart, pause/unpause, remove, wait, attach.

    start    under the container's lock: the launcher mounts, builds the spec, spawns the shim
             (`runc create`), connects parked attach sessions, releases the process; then the
             exit watcher (supervision.py) takes over
    stop     signal, wait up to the timeout for the watcher's exit, then SIGKILL
    remove   (force: kill and wait first) cleanup, release mounts, delete layers, dir, record
Mixed into the Containers service, which provides the attributes below."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal as sig
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord
from dockyard.core.types import Json
from dockyard.services.containers.launcher import Launcher
from dockyard.services.containers.sessions import ShimSession
from dockyard.state.containers import ContainerRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


class ContainerLifecycle:
    repo: ContainerRepo
    layers: LayerStore
    launcher: Launcher
    loop: asyncio.AbstractEventLoop | None
    _locks: dict[str, threading.Lock]
    _locks_guard: threading.Lock
    _exit_waiters: dict[str, list[asyncio.Future[int]]]
    _remove_waiters: dict[str, list[asyncio.Future[int]]]
    _parked: dict[str, list[ShimSession]]
    _parked_lock: threading.Lock

    if TYPE_CHECKING:  # provided by Containers and the other mixins; for the type checker only

        def get(self, ref: str) -> ContainerRecord: ...

        def _lock(self, cid: str) -> threading.Lock: ...

        def _publish(self, rec: ContainerRecord, action: str, **extra: str) -> None: ...

        def _on_loop(self, fn: Any, *args: Any) -> None: ...

        def container_dir(self, cid: str) -> Path: ...

        @staticmethod
        def _running(rec: ContainerRecord) -> bool: ...

        def _connect_late(self, rec: ContainerRecord, session: ShimSession) -> None: ...

        def _spawn_watcher(self, cid: str, shim_pid: int) -> None: ...

    def start(self, ref: str) -> None:
        rec = self.get(ref)
        with self._lock(rec.id):
            rec = self.get(rec.id)
            st = rec.state["Status"]
            if st == "paused":
                raise errors.Conflict("cannot start a paused container, try unpause instead")
            if st in ("running", "restarting"):
                raise errors.NotModified("container already started")
            rec.doc["ManuallyStopped"] = False
            try:
                self._start_locked(rec)
                return
            except errors.DockyardError as e:
                error = e
        # Docker removes an AutoRemove container whose start failed (outside our lock: removal
        # takes it too), then reports the start error.
        if rec.host_config.get("AutoRemove") and self.loop is not None:
            asyncio.run_coroutine_threadsafe(
                self._remove(rec.id, force=True, volumes=True), self.loop
            ).result()
        raise error

    def _start_locked(self, rec: ContainerRecord) -> None:
        with self._parked_lock:
            parked = self._parked.pop(rec.id, [])
        try:
            handle = self.launcher.launch(rec, parked)
        except errors.DockyardError as e:
            rec.state["Error"] = e.message
            if "executable file not found" in e.message or "no such file" in e.message:
                rec.state["ExitCode"] = 127
            elif "permission denied" in e.message:
                rec.state["ExitCode"] = 126
            else:
                rec.state["ExitCode"] = 128
            self.repo.save(rec)
            for s in parked:
                self._on_loop(s.fail)
            raise
        st = rec.state
        st.update(
            Status="running",
            Running=True,
            Paused=False,
            Restarting=False,
            Pid=handle.container_pid,
            OOMKilled=False,
            ExitCode=0,
            Error="",
            StartedAt=timefmt.rfc3339_fixed(),
        )
        rec.doc["ShimPid"] = handle.shim_pid
        self.repo.save(rec)
        with self._parked_lock:  # attached while we were starting: may miss the first output
            late = self._parked.pop(rec.id, [])
        for session in late:
            self._on_loop(self._connect_late, rec, session)
        self._publish(rec, "start")
        self._on_loop(self._spawn_watcher, rec.id, handle.shim_pid)

    async def _exited(self, cid: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._exit_waiters.setdefault(cid, []).append(fut)
        return fut

    async def stop(self, ref: str, signal: str | None, timeout: int | None) -> None:
        rec = await asyncio.to_thread(self.get, ref)
        if rec.state["Status"] == "restarting":
            rec.doc["ManuallyStopped"] = True
            rec.state.update(Status="exited", Restarting=False)
            await asyncio.to_thread(self.repo.save, rec)
            return
        if not self._running(rec):
            raise errors.NotModified("container already stopped")
        rec.doc["ManuallyStopped"] = True
        await asyncio.to_thread(self.repo.save, rec)
        signo = _signal(signal or rec.config.get("StopSignal"))
        if timeout is None:
            timeout = rec.config.get("StopTimeout")
        if timeout is None:
            timeout = 10
        exited = await self._exited(rec.id)
        await asyncio.to_thread(self._signal, rec, signo)
        if rec.state["Status"] == "paused":
            await asyncio.to_thread(self.launcher.runc.resume, rec.id)
        try:
            if timeout < 0:
                await exited
            else:
                await asyncio.wait_for(asyncio.shield(exited), timeout)
        except TimeoutError:
            await asyncio.to_thread(self._signal, rec, sig.SIGKILL)
            await exited
        self._publish(rec, "stop")

    def _signal(self, rec: ContainerRecord, signo: int) -> None:
        try:
            self.launcher.runc.kill(rec.id, signo)
        except errors.DockyardError as e:
            log.debug("kill %s: %s", rec.id[:12], e)
        self._publish(rec, "kill", signal=str(signo))

    def kill(self, ref: str, signal: str) -> None:
        rec = self.get(ref)
        signo = _signal(signal or "SIGKILL")
        if not self._running(rec):
            raise errors.Conflict(
                f"Cannot kill container: {ref}: Container {rec.id} is not running"
            )
        if signo == sig.SIGKILL:
            rec.doc["ManuallyStopped"] = True
            self.repo.save(rec)
        self._signal(rec, signo)

    async def restart(self, ref: str, signal: str | None, timeout: int | None) -> None:
        rec = await asyncio.to_thread(self.get, ref)
        if self._running(rec):
            await self.stop(ref, signal, timeout)
        await asyncio.to_thread(self.start, rec.id)
        self._publish(rec, "restart")

    def pause(self, ref: str) -> None:
        rec = self.get(ref)
        with self._lock(rec.id):
            rec = self.get(rec.id)
            if rec.state["Status"] == "paused":
                raise errors.Conflict(f"Container {rec.id} is already paused")
            if rec.state["Status"] != "running":
                raise errors.Conflict(f"Container {rec.id} is not running")
            self.launcher.runc.pause(rec.id)
            rec.state.update(Status="paused", Paused=True)
            self.repo.save(rec)
        self._publish(rec, "pause")

    def unpause(self, ref: str) -> None:
        rec = self.get(ref)
        with self._lock(rec.id):
            rec = self.get(rec.id)
            if rec.state["Status"] != "paused":
                raise errors.Conflict(f"Container {rec.id} is not paused")
            self.launcher.runc.resume(rec.id)
            rec.state.update(Status="running", Paused=False)
            self.repo.save(rec)
        self._publish(rec, "unpause")

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        rec = await asyncio.to_thread(self.get, ref)
        await self._remove(rec.id, force=force, volumes=volumes)

    async def _remove(self, cid: str, *, force: bool, volumes: bool) -> None:
        rec = await asyncio.to_thread(self.get, cid)
        if self._running(rec):
            if not force:
                what = "paused" if rec.state["Status"] == "paused" else "running"
                raise errors.Conflict(
                    f"You cannot remove a {what} container {rec.id}. Stop the container before "
                    "attempting removal or force remove"
                )
            rec.doc["ManuallyStopped"] = True
            await asyncio.to_thread(self.repo.save, rec)
            exited = await self._exited(rec.id)
            await asyncio.to_thread(self._signal, rec, sig.SIGKILL)
            if rec.state["Status"] == "paused":
                await asyncio.to_thread(self.launcher.runc.resume, rec.id)
            await exited
        code = await asyncio.to_thread(self._destroy, rec.id, volumes)
        for s in self._parked.pop(rec.id, []):
            s.fail()
        for fut in self._remove_waiters.pop(rec.id, []):
            if not fut.done():
                fut.set_result(code)

    def _destroy(self, cid: str, volumes: bool) -> int:
        with self._lock(cid):
            rec = self.repo.get(cid)
            if rec is None:
                raise errors.no_such_container(cid)
            rec.state["Status"] = "removing"
            self.repo.save(rec)
            self.launcher.cleanup(rec)
            self.launcher.mounts.release(rec, volumes)
            self.layers.remove_rw(cid)
            shutil.rmtree(self.container_dir(cid), ignore_errors=True)
            self.repo.delete(cid)
        with self._locks_guard:
            self._locks.pop(cid, None)
        self._publish(rec, "destroy")
        return int(rec.state["ExitCode"])

    async def wait(self, ref: str, condition: str) -> Json:
        condition = condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise errors.InvalidParameter(f'invalid condition: "{condition}"')
        rec = await asyncio.to_thread(self.get, ref)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if condition == "removed":
            self._remove_waiters.setdefault(rec.id, []).append(fut)
        elif condition == "not-running" and not (
            self._running(rec) or rec.state["Status"] == "restarting"
        ):
            return {"StatusCode": rec.state["ExitCode"], "Error": None}
        else:
            self._exit_waiters.setdefault(rec.id, []).append(fut)
        code = await fut
        return {"StatusCode": code, "Error": None}

    async def attach(
        self, ref: str, *, stdin: bool, stdout: bool, stderr: bool, logs: bool, stream: bool
    ) -> ShimSession:
        rec = await asyncio.to_thread(self.get, ref)
        session = ShimSession(
            tty=bool(rec.config.get("Tty")),
            stdin=stdin and bool(rec.config.get("OpenStdin")),
            stdout=stdout,
            stderr=stderr,
        )
        if not stream:
            session.fail()
            return session
        # Never the per-container lock here: start() holds it while it waits for this loop.
        # Under _parked_lock a session either sees "running" (and connects itself) or is parked
        # before start() takes the parked list after saving "running".
        with self._parked_lock:
            rec = self.get(rec.id)
            running = rec.state["Status"] in ("running", "paused")
            if not running:
                self._parked.setdefault(rec.id, []).append(session)
        if running:
            try:
                session.connect(await self.launcher.connect(rec))
            except OSError:
                session.fail()  # it exited meanwhile: nothing to attach to
        self._publish(rec, "attach")
        return session


def _signal(value: Any) -> int:
    from dockyard.services.containers.signals import parse

    return parse(value)
