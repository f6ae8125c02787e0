"""Removing containers (E4): `rm` (force: kill and wait for the exit first), then under the
container's lock the launcher's cleanup, the mounts released, the layers, dir and record deleted,
and `wait --condition removed` answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal as sig

from dockyard import errors
from dockyard.core.container import ContainerRecord
from dockyard.services.containers.shared import ContainerShared, running

log = logging.getLogger(__name__)
KILL_WAIT = 10.0  # seconds for a SIGKILLed container's exit to be seen before rm -f looks


class Removal:
    def __init__(self, shared: ContainerShared) -> None:
        self.shared = shared
        self.repo = shared.repo
        self.launcher = shared.launcher

    def signal(self, rec: ContainerRecord, signo: int) -> None:
        # Published first: the exit the signal causes publishes `die` from another thread, and
        # dockerd's order is kill, then die.
        self.shared.publish(rec, "kill", signal=str(signo))
        try:
            self.launcher.runc.kill(rec.id, signo)
        except errors.DockyardError as e:
            log.debug("kill %s: %s", rec.id[:12], e)

    def thaw(self, rec: ContainerRecord) -> None:
        """Resume a paused container so a signal sent to it lands; it may have exited already
        (a frozen process still dies of SIGKILL), and its runc state gone with it."""
        try:
            self.launcher.runc.resume(rec.id)
        except errors.DockyardError as e:
            log.debug("resume %s: %s", rec.id[:12], e)

    def unlink(self, ref: str) -> None:
        """`rm --link parent/alias`: the parent forgets the link, the target stays (dockerd's
        rmLink); a container's own name is its default link name and is refused."""
        self.shared.get(ref)  # an unknown name is a 404 in Docker's words first
        found = self.repo.link_of(ref)
        if found is None:
            raise errors.System("Conflict, cannot remove the default link name of the container")
        parent, spec = found
        with self.shared.lock(parent.id):
            parent = self.shared.get(parent.id)
            hc = parent.host_config
            hc["Links"] = [s for s in hc.get("Links") or [] if s != spec] or None
            self.repo.save(parent)

    async def remove_id(self, cid: str, *, force: bool, volumes: bool) -> None:
        await self.remove(cid, force, volumes)

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        # one read for the checks below; _destroy reads the record again under its lock
        rec = await asyncio.to_thread(self.shared.get, ref)
        if rec.state["Status"] == "restarting" and not force:
            raise errors.Conflict(
                f"You cannot remove a restarting container {rec.id}. Stop the container "
                "before attempting removal or force remove"
            )
        if running(rec) and not force:
            what = "paused" if rec.state["Status"] == "paused" else "running"
            raise errors.Conflict(
                f"You cannot remove a {what} container {rec.id}. Stop the container before "
                "attempting removal or force remove"
            )
        if force and (running(rec) or rec.state["Status"] == "restarting"):
            # The waiter first, then the record read again under the lock: an exit recorded
            # in between is seen either way, and no stale copy is saved over it.
            exited = await self.shared.exited(rec.id)
            try:
                rec = await asyncio.to_thread(self._mark_stopping, rec.id)
            except errors.DockyardError:
                self.shared.drop_exit_waiter(rec.id, exited)  # removed meanwhile
                raise
            if running(rec):
                await asyncio.to_thread(self.signal, rec, sig.SIGKILL)
                if rec.state["Status"] == "paused":
                    await asyncio.to_thread(self.thaw, rec)
                await self._killed(rec, exited)
            else:  # exited meanwhile, or restarting: the pending restart sees the flag
                self.shared.drop_exit_waiter(rec.id, exited)
        code = await asyncio.to_thread(self._destroy, rec.id, volumes)
        for s in self.shared.parked.pop(rec.id, []):
            s.fail()
        for fut in self.shared.remove_waiters.pop(rec.id, []):
            if not fut.done():
                fut.set_result(code)

    def _mark_stopping(self, cid: str) -> ContainerRecord:
        """The fresh record, flagged as stopped by the user (no restart policy applies)."""
        with self.shared.lock(cid):
            rec = self.repo.get(cid)
            if rec is None:
                raise errors.no_such_container(cid)
            rec.run.manually_stopped = True
            self.repo.save(rec)
            return rec

    async def _killed(self, rec: ContainerRecord, exited: asyncio.Future[int]) -> None:
        """Wait for the exit SIGKILL causes. None within KILL_WAIT: go on if runc no longer
        runs the container (its exit was lost: a shim gone, a record saved over), else fail
        as dockerd does."""
        try:
            await asyncio.wait_for(asyncio.shield(exited), KILL_WAIT)
            return
        except TimeoutError:
            self.shared.drop_exit_waiter(rec.id, exited)
        state = await asyncio.to_thread(self.launcher.runc.state, rec.id)
        if state is not None and state.get("status") in ("running", "paused", "pausing"):
            raise errors.System(
                f"Could not kill running container {rec.id}, cannot remove - "
                f"container {rec.id} is still {state.get('status')}"
            )
        log.warning("no exit of %s seen after SIGKILL and runc runs nothing: removing it",
                    rec.id[:12])  # fmt: skip

    def _destroy(self, cid: str, volumes: bool) -> int:
        with self.shared.lock(cid):
            rec = self.repo.get(cid)
            if rec is None:
                raise errors.no_such_container(cid)
            rec.state["Status"] = "removing"
            self.repo.save(rec)
            self.launcher.cleanup(rec)
            self.launcher.mounts.release(rec, volumes)
            self.shared.layers.remove_rw(cid)
            with contextlib.suppress(OSError):  # best effort, as ever for this dir
                self.shared.trash.discard(self.shared.container_dir(cid))
            self.repo.delete(cid)
        self.shared.forget_lock(cid)
        self.shared.publish(rec, "destroy")
        return int(rec.state["ExitCode"])
