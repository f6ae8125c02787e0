"""The container service (E4, S2-S6): records, the start/exit cycle, and queries.

Lifecycle of a container:
    create   validate, resolve the image, make the init + rw layers, store the record (created)
    start    mount the rootfs, write hosts/hostname/resolv.conf, build the OCI spec, spawn the shim
             (which runs `runc create`), connect parked attach sessions, `runc start` (running)
    exit     the shim records the exit code; the watcher (a pidfd on the shim, so it also works
             for containers adopted after a daemon restart) runs `runc delete`, unmounts, stores
             the exit, then applies the restart policy or AutoRemove (exited)
    remove   delete the layers and files, then the record (gone)
Each multi-step setup runs under one Rollback so a failure leaves nothing half-made.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import signal as sig
import threading
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.config import Config
from dockyard.rollback import Rollback
from dockyard.services.containers import names, record, status
from dockyard.services.containers.execs import Execs
from dockyard.services.containers.launcher import Launcher
from dockyard.services.containers.queries import ContainerQueries
from dockyard.services.containers.sessions import ShimSession
from dockyard.services.containers.supervision import ContainerSupervision
from dockyard.services.protocols import EventBus, Filters, Json
from dockyard.state.containers import ContainerRecord, ContainerRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


class Containers(ContainerQueries, ContainerSupervision):
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

    # ---- create --------------------------------------------------------------------------

    def create(self, name: str | None, body: Json) -> Json:
        if not isinstance(body, dict) or not body:
            raise errors.InvalidParameter("Config cannot be empty in order to create a container")
        image_ref = body.get("Image") or ""
        if not image_ref:
            raise errors.InvalidParameter("No image specified")  # docker-cli never sends this
        hc = record.host_config(body.get("HostConfig"))
        if name:
            name = names.validate(name)
        self.launcher.network.validate(hc, body.get("NetworkingConfig"))
        image = self.images.resolve(image_ref)
        cfg = record.merge_config(body, self.images.config(image.id).get("config") or {})
        self.launcher.mounts.validate(cfg, hc)
        cfg["Image"] = image_ref
        argv = record.command_of(cfg)
        if not argv:
            raise errors.InvalidParameter("No command specified")
        cid = secrets.token_hex(32)
        if not cfg.get("Hostname"):
            # Docker: a host-network container takes the host's name (N4).
            host_net = hc.get("NetworkMode") == "host"
            cfg["Hostname"] = os.uname().nodename if host_net else cid[:12]
        created = status.now_rfc3339()
        doc: Json = {
            "Path": argv[0],
            "Args": argv[1:],
            "State": {
                "Status": "created",
                "Running": False,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "Dead": False,
                "Pid": 0,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": status.ZERO_TIME,
                "FinishedAt": status.ZERO_TIME,
            },
            "Config": cfg,
            "HostConfig": hc,
            "RestartCount": 0,
            "ManuallyStopped": False,
            "LogPath": str(self.container_dir(cid) / f"{cid}-json.log"),
            "Mounts": [],
            "NetworkSettings": _network_settings(hc, body.get("NetworkingConfig")),
            # the wanted endpoints (N5): network connect/disconnect edit them
            "NetworkingConfig": body.get("NetworkingConfig") or {"EndpointsConfig": {}},
        }
        with self._create_lock, Rollback() as rb:
            if name is None:
                name = names.generate(self.repo.names())
            elif (other := self.repo.by_name(name)) is not None:
                raise errors.Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
            rw = self.layers.create_rw(cid, self.images.top_layer(image.id))
            rb.push(self.layers.remove_rw, cid)
            doc["MountId"] = rw.mount_id
            self.container_dir(cid).mkdir(mode=0o710, parents=True)
            rb.push(shutil.rmtree, self.container_dir(cid), True)
            rec = ContainerRecord(cid, name, created, image.id, doc)
            doc["Mounts"] = self._prepare_mounts(rec)
            rb.push(self.launcher.mounts.release, rec, True)
            with self.repo.db.tx() as c:
                self.repo.insert(c, rec)
            rb.commit()
        self._publish(rec, "create")
        return {"Id": cid, "Warnings": []}

    def _prepare_mounts(self, rec: ContainerRecord) -> list[Json]:
        hc = rec.host_config
        if not (
            hc.get("Binds") or hc.get("Mounts") or hc.get("Tmpfs") or rec.config.get("Volumes")
        ):
            return []  # nothing to mount: spare the rootfs mount on the create path
        rootfs = self.layers.mount(rec.id)
        try:
            return self.launcher.mounts.prepare(rec, rootfs)
        finally:
            self.layers.unmount(rec.id)

    # ---- start / exit --------------------------------------------------------------------

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
            ExitCode=0,
            Error="",
            StartedAt=status.now_rfc3339(),
        )
        rec.doc["ShimPid"] = handle.shim_pid
        self.repo.save(rec)
        with self._parked_lock:  # attached while we were starting: may miss the first output
            late = self._parked.pop(rec.id, [])
        for session in late:
            self._on_loop(self._connect_late, rec, session)
        self._publish(rec, "start")
        self._on_loop(self._spawn_watcher, rec.id, handle.shim_pid)

    # ---- stop / kill / pause -------------------------------------------------------------

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

    # ---- remove / wait -------------------------------------------------------------------

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
        deleted = []
        reclaimed = 0
        for rec in self.repo.all():
            if rec.state["Status"] not in ("exited", "created", "dead"):
                continue
            if not status.matches(rec, {k: v for k, v in filters.items() if k == "label"}, None):
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


def _signal(value: Any) -> int:
    from dockyard.services.containers.signals import parse

    return parse(value)


def _network_settings(hc: Json, networking: Json | None = None) -> Json:
    mode = hc.get("NetworkMode") or "default"
    # a created container lists its wanted user networks (compose reads them before connecting)
    wanted = {
        name: {"IPAMConfig": (ep or {}).get("IPAMConfig"), "Aliases": (ep or {}).get("Aliases"),
               "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
               "IPPrefixLen": 0, "MacAddress": ""}
        for name, ep in ((networking or {}).get("EndpointsConfig") or {}).items()
        if name not in ("default", "bridge", "host", "none")
    }  # fmt: skip
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SandboxKey": "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {} if mode in ("default", "bridge", "none") else wanted,
    }
