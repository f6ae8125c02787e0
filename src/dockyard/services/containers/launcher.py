"""From a container record to a running process and back: the only place the container service
touches the runtime (runc, the shim, the OCI spec, the json-file log).

    launch(rec, parked)  mount rootfs, per-container files, spec, bundle, shim (`runc create`),
                         connect parked attach sessions, `runc start`; rolled back on failure
    wait_exit(...)       await the shim's exit, read the exit file
    cleanup(rec)         `runc delete`, unmount the rootfs; idempotent, safe on a never-started one
    adopt(rec, pid)      after a daemon restart: is the shim still there? count the mount again
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.config import Config
from dockyard.core.container import ContainerRecord
from dockyard.core.hooks import MountHooks, NetworkHooks, NetworkPlan
from dockyard.crashpoints import crashpoint
from dockyard.rollback import Rollback, best_effort
from dockyard.runtime import initbinary, logopts
from dockyard.runtime import logs as logfile
from dockyard.runtime import shim as shimlib
from dockyard.runtime import spec as ocispec
from dockyard.runtime.cgroups import CgroupHost
from dockyard.runtime.oomwatch import OomWatch
from dockyard.runtime.runc import Runc
from dockyard.services.containers import files, psout
from dockyard.services.containers.sessions import ShimSession
from dockyard.storage.protocols import LayerStore
from dockyard.storage.rmtree import remove_tree_quietly

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launched:
    shim_pid: int
    container_pid: int


def _host_cap_bounding() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return 0


def _host_rlimits() -> dict[str, tuple[int, int]]:
    out = {}
    for name in ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_MEMLOCK"):
        out[name] = resource.getrlimit(getattr(resource, name))
    return out


class Launcher:
    def __init__(
        self,
        cfg: Config,
        layers: LayerStore,
        shim_binary: Path,
        cgroups: CgroupHost,
        mounts: MountHooks,
        network: NetworkHooks,
    ) -> None:
        self.cfg = cfg
        self.layers = layers
        self.mounts = mounts
        self.network = network
        self.shim_binary = shim_binary
        self.cgroups = cgroups
        self.runc = Runc(cfg.runc_root, systemd_cgroup=cgroups.systemd)
        self.ooms = OomWatch()
        self.loop: asyncio.AbstractEventLoop | None = None
        # the cfg.mount_trees the engine made mounts of their own: runc creates without them
        self.private_trees: list[Path] = []
        self.cap_bounding = _host_cap_bounding()
        self._rlimits = _host_rlimits()

    def bundle(self, cid: str) -> Path:
        return self.cfg.bundles_root / cid

    def sock(self, id: str) -> Path:
        """The shim's attach socket (a container's or an exec's). Kept short and outside the
        bundle: a unix socket path is limited to 107 bytes."""
        d = self.cfg.exec_root / "s"
        d.mkdir(mode=0o700, exist_ok=True)
        return d / f"{id[:20]}.sock"

    def exit_file(self, cid: str) -> Path:
        return self.bundle(cid) / "exit"

    # ---- start -----------------------------------------------------------------------------

    def build(self, rec: ContainerRecord, rootfs: Path, net: NetworkPlan) -> dict[str, Any]:
        cfg, hc = rec.config, rec.host_config
        paths = net.files or files.write_files(
            self.cfg.containers_root / rec.id,
            hostname=cfg.get("Hostname") or rec.id[:12],
            domainname=cfg.get("Domainname") or "",
            host_network=net.netns_path == "host",
            extra_hosts=net.extra_hosts,  # --add-host (host-gateway resolved), then links
            address=net.address,
            resolv_conf=net.resolv_conf,
        )
        rec.doc.update(paths)
        user = files.resolve_user(rootfs, cfg.get("User") or "", hc.get("GroupAdd") or ())
        mounts = files.file_mounts(paths, bool(hc.get("ReadonlyRootfs")))
        mounts += self.mounts.oci_mounts(rec)
        if net.env:
            cfg = {**cfg, "Env": [*net.env, *(cfg.get("Env") or [])]}
        return ocispec.build_spec(
            config=cfg,
            host_config=hc,
            rootfs=str(rootfs),
            mounts=mounts,
            netns_path=net.netns_path,
            cgroups_path=self.cgroups.cgroups_path(rec.id),
            user=user,
            process_args=[rec.doc["Path"], *rec.doc["Args"]],
            host_cap_bounding=self.cap_bounding,
            host_rlimits=self._rlimits,
            init_binary=(
                initbinary.resolve(self.cfg.init_path)
                if initbinary.wanted(hc.get("Init"), self.cfg.init)
                else None
            ),
        )

    def launch(
        self,
        rec: ContainerRecord,
        parked: list[ShimSession],
    ) -> Launched:
        cid = rec.id
        bundle = self.bundle(cid)
        with Rollback() as rb:
            rootfs = self.layers.mount(cid)
            rb.push(self.layers.unmount, cid)
            crashpoint("start.after-mount")
            net = self.network.setup(rec)
            rb.push(self.network.teardown, rec)
            crashpoint("start.after-network")
            spec = self.build(rec, rootfs, net)
            shutil.rmtree(bundle, ignore_errors=True)
            bundle.mkdir(parents=True, mode=0o700)
            rb.push(shutil.rmtree, bundle, True)
            (bundle / "config.json").write_text(json.dumps(spec))
            self.runc.delete(cid, force=True)
            cfg = rec.config
            settings = logopts.parse(rec.host_config.get("LogConfig"))
            log_path = Path(rec.log_path) if settings.readable and rec.log_path else None
            if log_path is not None:
                log_path.parent.mkdir(mode=0o700, exist_ok=True)  # local-logs/
            keep = ocispec.paths_below(spec, self.private_trees)
            handle = _spawn(
                self.shim_binary,
                cid,
                bundle,
                runtime=shutil.which("runc") or "runc",
                runtime_root=self.cfg.runc_root,
                log_path=log_path,
                exit_file=self.exit_file(cid),
                sock=self.sock(cid),
                tty=bool(cfg.get("Tty")),
                stdin=bool(cfg.get("OpenStdin")),
                stdin_once=bool(cfg.get("StdinOnce")),
                log=settings,
                systemd_cgroup=self.cgroups.systemd,
                private_trees=self.private_trees if keep is not None else [],
                keep=keep or [],
            )
            rb.push(self.runc.delete, cid, True)
            if parked:
                self._connect_parked(cid, parked)
            self.runc.start(cid)
            rb.commit()
        return Launched(handle.pid, handle.container_pid)

    def _connect_parked(self, cid: str, parked: list[ShimSession]) -> None:
        assert self.loop is not None

        async def connect_all() -> None:
            for s in parked:
                try:
                    s.connect(await shimlib.connect(self.sock(cid)))
                except OSError as e:
                    log.warning("attach to %s failed: %s", cid[:12], e)
                    s.fail()

        asyncio.run_coroutine_threadsafe(connect_all(), self.loop).result(timeout=10)

    async def connect(self, rec: ContainerRecord) -> Any:
        return await shimlib.connect(self.sock(rec.id))

    # ---- exit ------------------------------------------------------------------------------

    def watch_oom(self, cid: str) -> None:
        """From the loop, once the container runs: follow its memory.events (cgroup v2)."""
        if self.cgroups.version == 2:
            self.ooms.watch(cid, self.cgroups.memory_dir(cid), self.loop)

    def oom_killed(self, cid: str) -> bool:
        """Before cleanup: did the OOM killer take one of its processes? v1 reads runc's
        cgroup, v2 also what the watch saw (systemd may have removed the cgroup already)."""
        seen = self.ooms.kills(cid)
        return seen > 0 or self.runc.oom_kills(cid) > 0

    async def wait_exit(self, cid: str, shim_pid: int) -> tuple[int, str]:
        return await shimlib.wait_exit(shim_pid, self.exit_file(cid))

    def read_exit(self, rec: ContainerRecord) -> tuple[int, str]:
        """The exit the shim recorded while no daemon was watching; 255 if it left none."""
        try:
            lines = self.exit_file(rec.id).read_text().splitlines()
            return int(lines[0]), (lines[1] if len(lines) > 1 else "")
        except (OSError, ValueError, IndexError):
            return 255, ""

    def cleanup(self, rec: ContainerRecord) -> None:
        """After an exit and at rm: every step runs even when one fails; then the first failure
        is raised (rm keeps the record in "removing", finished at the next start)."""
        problems = best_effort([
            (self.runc.delete, (rec.id, True)),
            (self.network.teardown, (rec,)),
            (self.cgroups.remove, (rec.id,)),  # runc delete removes them; a killed runc may not
            (self.layers.unmount, (rec.id,)),
            (remove_tree_quietly, (self.bundle(rec.id),)),
            (self.sock(rec.id).unlink, (True,)),
        ])  # fmt: skip
        if problems:
            raise problems[0]

    @staticmethod
    def shim_alive(rec: ContainerRecord, shim_pid: int) -> bool:
        """Whether `shim_pid` is still this container's shim (not a recycled pid)."""
        try:
            cmdline = Path(f"/proc/{shim_pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"dockyard-shim" in cmdline and rec.id.encode() in cmdline

    def adopt(self, rec: ContainerRecord, shim_pid: int) -> bool:
        if not self.shim_alive(rec, shim_pid):
            return False
        self.layers.mount(rec.id)  # counts the mount that survived the restart
        return True

    # ---- queries ---------------------------------------------------------------------------

    def top(self, cid: str, ps_args: str) -> dict[str, Any]:
        pids = set(self.runc.ps(cid))
        # ps sizes its columns from COLUMNS when set: not from whoever started the daemon
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        out = subprocess.run(["ps", *ps_args.split()], capture_output=True, text=True,
                             check=False, env=env)  # fmt: skip
        if out.returncode != 0:
            raise errors.System(f"Error running ps: {out.stderr.strip()}")
        return psout.parse(out.stdout, pids)

    def export_rootfs(self, cid: str) -> Iterator[bytes]:
        from dockyard.storage.layerexport import tar_directory

        rootfs = self.layers.mount(cid)
        try:
            yield from tar_directory(rootfs)
        finally:
            self.layers.unmount(cid)

    def resize(self, rec: ContainerRecord, height: int, width: int) -> None:
        assert self.loop is not None

        async def do() -> None:
            conn = await shimlib.connect(self.sock(rec.id))
            try:
                await conn.resize(height, width)
            finally:
                await conn.close()

        asyncio.run_coroutine_threadsafe(do(), self.loop).result(timeout=5)

    def logs(
        self, rec: ContainerRecord, *, tail: int | None, is_running: Callable[[], bool], **kw: Any
    ) -> AsyncIterator[tuple[int, bytes]]:
        local = (rec.host_config.get("LogConfig") or {}).get("Type") == logopts.LOCAL
        return logfile.read_logs(
            Path(rec.log_path), tail=tail, is_running=is_running, local=local, **kw
        )


def _spawn(*args: Any, **kw: Any) -> shimlib.ShimHandle:
    """Spawn the shim; runc's refusal becomes Docker's 400 with Docker's prefix (clients map
    "executable file not found" / "no such file" to exit 127 and "permission denied" to 126)."""
    try:
        return shimlib.Shim.spawn(*args, **kw)
    except shimlib.RuntimeStartError as e:
        raise errors.InvalidParameter(
            f"failed to create task for container: OCI runtime create failed: {e.message}: unknown"
        ) from None
