"""Watching running containers: the exit watcher (a pidfd on each shim), recording exits,
restart policies with Docker's back-off, and re-adopting containers after a daemon restart.
start_locked() is the one way a container starts (start, restart policies, restore): launch,
record it running, connect late attach sessions, then watch its exit."""

from __future__ import annotations

import asyncio
import logging
import shutil

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord
from dockyard.crashpoints import crashpoint
from dockyard.services.containers import cppending
from dockyard.services.containers.health import Health, mark_stopped, reset_for_start
from dockyard.services.containers.removal import Removal
from dockyard.services.containers.sessions import ShimSession
from dockyard.services.containers.shared import ContainerShared, keep_alive
from dockyard.storage import mount

log = logging.getLogger(__name__)


class Supervision:
    def __init__(self, shared: ContainerShared, removal: Removal, health: Health) -> None:
        self.shared = shared
        self.health = health
        self.repo = shared.repo
        self.layers = shared.layers
        self.launcher = shared.launcher
        self.removal = removal
        # exits being handled (recorded, auto-removed, restarted after a back-off): a recycle
        # waits for them (recycle.py)
        self.settling = 0

    def start_locked(self, rec: ContainerRecord) -> None:
        with self.shared.parked_lock:
            parked = self.shared.parked.pop(rec.id, [])
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
                self.shared.on_loop(s.fail)
            raise
        crashpoint("start.after-runc-start")
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
        rec.run.shim_pid = handle.shim_pid
        reset_for_start(rec)
        self.repo.save(rec)
        with self.shared.parked_lock:  # attached while we were starting: may miss the first output
            late = self.shared.parked.pop(rec.id, [])
        for session in late:
            self.shared.on_loop(self.connect_late, rec, session)
        self.shared.publish_volumes(rec, "mount")  # dockerd: network connect, mount, start
        self.shared.publish(rec, "start")
        self.shared.on_loop(self.spawn_watcher, rec.id, handle.shim_pid)
        self.shared.on_loop(self.health.watch, rec)

    def connect_late(self, rec: ContainerRecord, session: ShimSession) -> None:
        async def connect() -> None:
            try:
                session.connect(await self.launcher.connect(rec))
            except OSError:
                session.fail()

        assert self.shared.loop is not None
        keep_alive(self.shared.loop.create_task(connect()))

    def spawn_watcher(self, cid: str, shim_pid: int) -> None:
        assert self.shared.loop is not None
        self.launcher.watch_oom(cid)
        self.shared.watchers[cid] = self.shared.loop.create_task(self._watch(cid, shim_pid))

    async def _watch(self, cid: str, shim_pid: int) -> None:
        code, finished = await self.launcher.wait_exit(cid, shim_pid)
        self.settling += 1
        try:
            await self._handle_exit(cid, code, finished)
        finally:
            self.settling -= 1

    async def _handle_exit(self, cid: str, code: int, finished: str) -> None:
        self.health.unwatch(cid)  # probes stop with the process (also when it is being removed)
        rec = await asyncio.to_thread(self._record_exit, cid, code, finished)
        self.shared.watchers.pop(cid, None)
        for fut in self.shared.exit_waiters.pop(cid, []):
            if not fut.done():
                fut.set_result(code)
        if rec is None:
            return
        if rec.host_config.get("AutoRemove"):
            try:
                await self.removal.remove_id(rec.id, force=True, volumes=True)
            except errors.DockyardError as e:
                log.warning("auto-remove of %s failed: %s", cid[:12], e)
            return
        await self._maybe_restart(rec, code)

    def _record_exit(self, cid: str, code: int, finished: str) -> ContainerRecord | None:
        with self.shared.lock(cid):
            rec = self.repo.get(cid)
            if rec is None:
                return None
            # The cgroup's OOM-kill count goes with the cgroup: read it before cleanup.
            oom_killed = self.launcher.oom_killed(cid)
            rec.state.update(
                OOMKilled=oom_killed,
                Status="exited",
                Running=False,
                Paused=False,
                Restarting=False,
                Pid=0,
                ExitCode=code,
                FinishedAt=finished or timefmt.rfc3339_fixed(),
            )
            rec.run.shim_pid = None
            mark_stopped(rec)
            self.repo.save(rec)  # exited before `die` is seen, as dockerd sets it
            # dockerd's order: oom, die, then the cleanup's network disconnect and volume
            # unmount events.
            if oom_killed:
                self.shared.publish(rec, "oom")
            self.shared.publish(rec, "die", exitCode=str(code))
            try:
                self.launcher.cleanup(rec)
            finally:
                self.repo.save(rec)  # the cleanup's NetworkSettings
                self.shared.publish_volumes(rec, "unmount")
        return rec

    async def _maybe_restart(self, rec: ContainerRecord, code: int) -> None:
        policy = rec.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if rec.run.manually_stopped or name == "no":
            return
        if name == "on-failure" and (
            code == 0
            or (
                policy.get("MaximumRetryCount")
                and rec.run.restart_count >= policy["MaximumRetryCount"]
            )
        ):
            return
        ran = timefmt.parse_rfc3339(rec.state["FinishedAt"]) - timefmt.parse_rfc3339(
            rec.state["StartedAt"]
        )
        delay = 0.1 if ran > 10 else min(60.0, 0.1 * 2 ** min(rec.run.restart_count, 10))
        rec.state.update(Status="restarting", Restarting=True)
        await asyncio.to_thread(self.repo.save, rec)
        await asyncio.sleep(delay)

        def restart() -> None:
            with self.shared.lock(rec.id):
                cur = self.repo.get(rec.id)
                if cur is None or cur.run.manually_stopped or cur.state["Status"] != "restarting":
                    return
                cur.run.restart_count += 1
                self.start_locked(cur)

        try:
            await asyncio.to_thread(restart)
        except errors.DockyardError as e:
            log.warning("restart of %s failed: %s", rec.id[:12], e)

    def settle_freezer(self, rec: ContainerRecord) -> str:
        """A daemon killed between freezing a container and saving it (pause, or commit's
        pause) leaves the record and the cgroup apart: a container the record says runs is
        thawed, one it says is paused but is not frozen is recorded running. Returns the
        status now."""
        st = str(rec.state["Status"])
        if st == "restarting":
            return st
        frozen = self.launcher.cgroups.frozen(rec.id)
        if st == "running" and frozen:
            log.info("thawing %s, left frozen by an interrupted pause or commit", rec.id[:12])
            try:
                self.launcher.runc.resume(rec.id)
            except errors.DockyardError as e:
                log.warning("could not thaw %s: %s", rec.id[:12], e)
        elif st == "paused" and not frozen:
            rec.state.update(Status="running", Paused=False)
            self.repo.save(rec)
            return "running"
        return st

    def record_gone(self, rec: ContainerRecord) -> None:
        """A container recorded running whose shim is gone (the daemon was down when it
        exited, or `system check --repair` found it so): its exit, as its shim left it."""
        code, finished = self.launcher.read_exit(rec)
        oom_killed = self.launcher.oom_killed(rec.id)
        self.launcher.cleanup(rec)
        rec.state.update(
            Status="exited", Running=False, Paused=False, Restarting=False, Pid=0,
            OOMKilled=oom_killed,
            ExitCode=code, FinishedAt=finished or timefmt.rfc3339_fixed(),
        )  # fmt: skip
        mark_stopped(rec)
        self.repo.save(rec)

    def _mounted(self, rec: ContainerRecord) -> bool:
        try:
            data = self.layers.rw_graph_driver(rec.id)["Data"]
        except errors.NotFound:
            return False
        return isinstance(data, dict) and mount.is_mounted(str(data["MergedDir"]))

    def restore(self, recycled: bool = False) -> None:
        """Re-adopt containers whose shim survived a daemon restart; record exits that happened
        while the daemon was down; start containers whose restart policy says so. First what
        a create killed before its record left (its container layer and directory) goes.
        `recycled`: the daemon replaced itself (recycle.py), it did not start: an exit
        meanwhile is handled as its watcher would have (events, auto-remove, restart policy)
        and no daemon-start restart applies."""
        layers, dirs = self.shared.orphans()
        for cid in layers:
            log.warning("removing the container layer of %s, a create that did not finish", cid)
        self.shared.remove_orphans(layers, dirs)
        known = {str(c.get("id")) for c in self.launcher.runc.list() or []}
        for rec in self.repo.all():
            cppending.sweep(self.shared.container_dir(rec.id))
            st = rec.state["Status"]
            if st in ("running", "paused", "restarting"):
                shim_pid = rec.run.shim_pid
                if shim_pid and self.launcher.adopt(rec, shim_pid):
                    log.info("re-adopted container %s (shim %s)", rec.id[:12], shim_pid)
                    st = self.settle_freezer(rec)
                    self.shared.on_loop(self.spawn_watcher, rec.id, shim_pid)
                    if st == "running":  # probes resume where they were
                        self.shared.on_loop(self.health.watch, rec)
                    continue
                if recycled and st != "restarting":
                    self.shared.on_loop(self.spawn_watcher, rec.id, 0)  # 0: gone already
                    continue
                self.record_gone(rec)
            elif st == "removing":
                self.launcher.cleanup(rec)
                self.layers.remove_rw(rec.id)
                shutil.rmtree(self.shared.container_dir(rec.id), ignore_errors=True)
                self.repo.delete(rec.id)
                continue
            elif rec.id in known or self._mounted(rec):
                # A start killed before its record said running: what it made goes (the
                # process too, as dockerd deletes a task its record does not run).
                log.warning(
                    "stopping %s, started by a daemon killed before recording it", rec.id[:12]
                )
                self.launcher.cleanup(rec)
            if not recycled and restarts_at_daemon_start(rec):
                # dockerd starts these afresh: a new count, no longer stopped by the user
                rec.run.restart_count = 0
                rec.run.manually_stopped = False
                try:
                    with self.shared.lock(rec.id):
                        self.start_locked(rec)
                except errors.DockyardError as e:
                    log.warning("could not restart %s: %s", rec.id[:12], e)


def restarts_at_daemon_start(rec: ContainerRecord) -> bool:
    """dockerd's restart manager asked at daemon start about a container that is not running:
    `always` restarts even after a user's stop, `unless-stopped` unless the user stopped it,
    `on-failure` after a non-zero exit while retries are left; never a container never started."""
    if timefmt.is_zero(rec.state.get("StartedAt") or timefmt.ZERO_TIME):
        return False
    policy = rec.host_config.get("RestartPolicy") or {}
    name, most = policy.get("Name") or "no", int(policy.get("MaximumRetryCount") or 0)
    if name == "always":
        return True
    if name == "unless-stopped":
        return not rec.run.manually_stopped
    if name == "on-failure":
        return rec.state["ExitCode"] != 0 and (most == 0 or rec.run.restart_count < most)
    return False
