"""`docker exec`: exec instances live in memory (as in Docker) and run under an exec-mode shim,
which waits for our attach before it starts the process, so no output is lost."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import errors
from dockyard.core import detachkeys
from dockyard.core.container import ContainerRecord
from dockyard.core.types import Json
from dockyard.runtime import shim as shimlib
from dockyard.runtime import spec as ocispec
from dockyard.services.containers import files
from dockyard.services.containers.record import merge_env
from dockyard.services.containers.sessions import ShimSession
from dockyard.services.containers.shared import ContainerShared, keep_alive

log = logging.getLogger(__name__)


@dataclass
class ExecInstance:
    id: str
    container_id: str
    config: Json
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    shim_pid: int = 0
    dir: Path = field(default_factory=Path)
    rec: ContainerRecord | None = None  # the container as exec_start saw it (exec_die's attrs)
    detach_keys: bytes = b""  # parsed from the create body's DetachKeys (b"": the default)

    def inspect(self) -> Json:
        c = self.config
        argv = list(c.get("Cmd") or [])
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": bool(c.get("Tty")),
                "entrypoint": argv[0] if argv else "",
                "arguments": argv[1:],
                "privileged": bool(c.get("Privileged")),
                "user": c.get("User") or "",
            },
            "OpenStdin": bool(c.get("AttachStdin")),
            "OpenStderr": bool(c.get("AttachStderr")),
            "OpenStdout": bool(c.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": base64.b64encode(self.detach_keys).decode(),  # a Go []byte
            "Pid": self.pid,
        }


class Execs:
    def __init__(self, shared: ContainerShared) -> None:
        self.shared = shared
        self.launcher = shared.launcher
        self._by_id: dict[str, ExecInstance] = {}

    def ids_for(self, cid: str) -> list[str]:
        # list(): one C-level copy, safe while another thread adds or drops an exec
        return [e.id for e in list(self._by_id.values()) if e.container_id == cid]

    def _get(self, exec_id: str) -> ExecInstance:
        inst = self._by_id.get(exec_id)
        if inst is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return inst

    def create(self, rec: ContainerRecord, body: Json) -> Json:
        if rec.state["Status"] == "paused":
            raise errors.Conflict(
                f"Container {rec.id} is paused, unpause the container before exec"
            )
        if rec.state["Status"] != "running":
            raise errors.Conflict(f"Container {rec.id} is not running")
        if not body.get("Cmd"):
            raise errors.InvalidParameter("No exec command specified")
        # Go decodes JSON keys case-insensitively: docker-py sends `detachKeys`.
        keys = next((v for k, v in body.items() if k.lower() == "detachkeys"), "") or ""
        try:
            detach_keys = detachkeys.parse(keys) if keys else b""
        except ValueError:
            raise errors.System(f"Invalid escape keys ({keys}) provided") from None
        inst = ExecInstance(secrets.token_hex(32), rec.id, dict(body), detach_keys=detach_keys)
        self._by_id[inst.id] = inst
        self.shared.publish(rec, "exec_create: " + _command(body["Cmd"]), execID=inst.id)
        return {"Id": inst.id}

    def _process(self, rec: ContainerRecord, inst: ExecInstance, tty: bool) -> Json:
        bundle = self.launcher.bundle(rec.id)
        spec = json.loads((bundle / "config.json").read_text())
        base = spec["process"]
        c = inst.config
        user_spec = c.get("User") or rec.config.get("User") or ""
        uid, gid, gids = files.resolve_user(
            Path(spec["root"]["path"]), user_spec, rec.host_config.get("GroupAdd") or ()
        )
        base["user"] = {**base.get("user", {}), "uid": uid, "gid": gid, "additionalGids": gids}
        base["args"] = list(c["Cmd"])
        env = merge_env(base.get("env") or [], c.get("Env") or [])
        base["env"] = [e for e in env if "=" in e]  # `-e NAME` unset in the client: not set
        base["terminal"] = tty
        if c.get("WorkingDir"):
            base["cwd"] = c["WorkingDir"]
        if c.get("Privileged"):
            caps = base.get("capabilities") or {}
            priv = ocispec.privileged_capabilities(self.launcher.cap_bounding)
            for k in ("bounding", "effective", "permitted"):
                caps[k] = priv
            base["capabilities"] = caps
        return dict(base)

    async def start(self, exec_id: str, *, detach: bool, tty: bool) -> ShimSession | None:
        """`tty` is the start request's: it chooses raw output over multiplexed frames, as in
        dockerd; whether the process gets a terminal was said at create."""
        inst = self._get(exec_id)
        if inst.running or inst.exit_code is not None:
            raise errors.Conflict(f"Exec command {exec_id} has already run")
        rec = await asyncio.to_thread(self.shared.get, inst.container_id)
        if rec.state["Status"] != "running":
            raise errors.Conflict(f"Container {rec.id} is not running")
        raw = tty
        tty = bool(inst.config.get("Tty"))
        process = await asyncio.to_thread(self._process, rec, inst, tty)
        launcher = self.launcher
        inst.dir = launcher.bundle(rec.id) / "exec" / inst.id
        inst.dir.mkdir(parents=True, mode=0o700)
        (inst.dir / "process.json").write_text(json.dumps(process))
        inst.running = True
        stdin = bool(inst.config.get("AttachStdin")) and not detach
        handle = await asyncio.to_thread(
            shimlib.Shim.spawn_exec,
            launcher.shim_binary,
            rec.id,
            launcher.bundle(rec.id),
            runtime=shutil.which("runc") or "runc",
            runtime_root=launcher.cfg.runc_root,
            process_json=inst.dir / "process.json",
            exit_file=inst.dir / "exit",
            sock=launcher.sock(inst.id),
            tty=tty,
            stdin=stdin,
            no_wait=detach,
            systemd_cgroup=launcher.cgroups.systemd,
        )
        inst.shim_pid = handle.pid
        inst.rec = rec
        self.shared.publish(rec, "exec_start: " + _command(inst.config["Cmd"]), execID=inst.id)
        if detach:
            await handle.started()
            inst.pid = handle.container_pid
            keep_alive(asyncio.get_running_loop().create_task(self._reap(inst)))
            return None

        async def on_end(ended: bool) -> None:
            if ended:  # the process is gone: its exit code is there before the stream ends
                await self._reap(inst)
            else:  # detached: the process goes on and is reaped when it exits
                keep_alive(asyncio.get_running_loop().create_task(self._reap(inst)))

        session = ShimSession(
            tty=tty,
            stdin=stdin,
            stdout=bool(inst.config.get("AttachStdout", True)),
            stderr=bool(inst.config.get("AttachStderr", True)),
            on_end=on_end,
            framed=not raw,
            detach_keys=inst.detach_keys or detachkeys.DEFAULT,
        )
        conn = await shimlib.connect(self.launcher.sock(inst.id))
        try:
            await handle.started()
        except errors.DockyardError as e:
            # As dockerd: the stream was promised, so it just ends; inspect says 126.
            log.info("exec %s did not start: %s", inst.id[:12], e.message)
            inst.running = False
            inst.exit_code = 126
            await conn.close()
            session.fail()
            return session
        inst.pid = handle.container_pid
        session.connect(conn)
        return session

    async def _reap(self, inst: ExecInstance) -> None:
        if not inst.running:
            return
        code, _ = await shimlib.wait_exit(inst.shim_pid, inst.dir / "exit")
        inst.exit_code = code
        inst.running = False
        shutil.rmtree(inst.dir, ignore_errors=True)
        self.launcher.sock(inst.id).unlink(missing_ok=True)
        if inst.rec is not None:  # as dockerd 20.10: every exec's end is an event
            self.shared.publish(inst.rec, "exec_die", execID=inst.id, exitCode=str(code))

    async def run_captured(
        self, rec: ContainerRecord, body: Json, limit: int, on_started: Callable[[int], None]
    ) -> tuple[int, bytes, bool]:
        """Run an exec to its end, its stdout and stderr interleaved, the first `limit` bytes
        kept (the rest is read and dropped); the instance is forgotten after, as dockerd
        forgets a healthcheck's. Returns (exit code, output, whether output was dropped);
        `on_started(pid)` is called once the process runs."""
        exec_id = self.create(rec, body)["Id"]
        inst = self._by_id[exec_id]
        try:
            session = await self.start(exec_id, detach=False, tty=False)
            assert session is not None
            if inst.pid:
                on_started(inst.pid)
            out = bytearray()
            dropped = False
            async for _, data in session.output():
                room = limit - len(out)
                out += data[:room]
                dropped = dropped or len(data) > room
            return (inst.exit_code if inst.exit_code is not None else -1), bytes(out), dropped
        finally:
            self._by_id.pop(exec_id, None)

    def inspect(self, exec_id: str) -> Json:
        return self._get(exec_id).inspect()

    def resize(self, exec_id: str, height: int, width: int) -> None:
        inst = self._get(exec_id)
        loop = self.shared.loop
        assert loop is not None

        async def do() -> None:
            conn = await shimlib.connect(self.launcher.sock(inst.id))
            try:
                await conn.resize(height, width)
            finally:
                await conn.close()

        asyncio.run_coroutine_threadsafe(do(), loop).result(timeout=5)

    def running(self) -> int:
        return sum(1 for e in list(self._by_id.values()) if e.running)

    def export(self) -> list[Json]:
        """Finished instances, for a recycled daemon's successor (inspect still answers them);
        a recycle waits until none runs."""
        return [{"id": e.id, "container_id": e.container_id, "config": e.config,
                 "exit_code": e.exit_code, "pid": e.pid,
                 "detach_keys": base64.b64encode(e.detach_keys).decode()}
                for e in list(self._by_id.values()) if not e.running]  # fmt: skip

    def restore(self, finished: list[Json]) -> None:
        for e in finished:
            inst = ExecInstance(str(e["id"]), str(e["container_id"]), dict(e["config"]),
                                exit_code=e["exit_code"], pid=int(e["pid"]),
                                detach_keys=base64.b64decode(e["detach_keys"]))  # fmt: skip
            self._by_id.setdefault(inst.id, inst)

    def forget_container(self, cid: str) -> None:
        for k in [k for k, e in self._by_id.items() if e.container_id == cid]:
            del self._by_id[k]


def _command(cmd: list[str]) -> str:
    """The exec's command in its events' action as dockerd writes it: the entrypoint, a space,
    the arguments ("exec_start: true " for an exec without arguments)."""
    return f"{cmd[0]} {' '.join(cmd[1:])}"
