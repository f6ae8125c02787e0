"""The host's cgroups as dockerd sees them: the version (1 on a legacy or hybrid host, 2 on a
unified one), the driver (`cgroupfs`, or `systemd` where systemd manages the tree), runc's
cgroupsPath for a container, and every directory a container's cgroup has on this host.

Defaults follow dockerd 20.10: the systemd driver when the host is cgroup v2 and systemd runs,
cgroupfs otherwise (`--exec-opt native.cgroupdriver=` overrides); containers get a private cgroup
namespace by default on v2 and the host's on v1. With cgroupfs a container's cgroup is
`/<parent>/<id>` in each hierarchy (parent `dockyard`); with systemd it is the transient unit
`dockyard-<id>.scope` in the parent slice (`system.slice`), which runc asks systemd for."""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from dockyard import errors

ROOT = Path("/sys/fs/cgroup")
SCOPE_PREFIX = "dockyard"
CGROUPFS, SYSTEMD = "cgroupfs", "systemd"
DEFAULT_PARENT = {CGROUPFS: "dockyard", SYSTEMD: "system.slice"}


def unified(root: Path = ROOT) -> bool:
    """True on a cgroup v2 (unified) host: cgroup2 is mounted at the root itself."""
    return (root / "cgroup.controllers").exists()


def systemd_running() -> bool:
    """As sd_booted(): systemd is PID 1 and manages the cgroup tree."""
    return os.path.isdir("/run/systemd/system")


def driver_from_exec_opts(exec_opts: list[str], v2: bool, systemd: bool) -> str:
    """The cgroup driver `--exec-opt native.cgroupdriver=X` asks for, or dockerd's default.
    As dockerd, the first such option counts and other exec options are not ours to judge."""
    chosen = ""
    for opt in exec_opts:
        key, sep, value = opt.partition("=")
        if sep and key.strip().lower() == "native.cgroupdriver":
            chosen = value.strip()
            break
    if chosen in (CGROUPFS, SYSTEMD):
        return chosen
    if chosen:
        raise errors.InvalidParameter(f"native.cgroupdriver option {chosen} not supported")
    return SYSTEMD if v2 and systemd else CGROUPFS


def slice_path(name: str) -> str:
    """systemd's path for a slice: `a-b.slice` lives in `a.slice/a-b.slice`."""
    if name == "-.slice":
        return ""
    stem = name.removesuffix(".slice")
    parts = stem.split("-")
    return "/".join("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


@dataclass(frozen=True)
class CgroupFeatures:
    """What the host's cgroups can limit, as dockerd's sysinfo finds it: a limit the host cannot
    apply is discarded with a warning (blkio weight, kernel memory), a cpuset outside the host's
    CPUs or memory nodes is refused."""

    blkio_weight: bool
    kernel_memory: bool  # v1 only: memory.kmem.limit_in_bytes
    cpus: str  # the CPUs a container may use ("0-1"), "" when unknown
    mems: str  # the memory nodes ("0")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class CgroupHost:
    """How this daemon places containers' cgroups; one per daemon."""

    version: int  # 1 or 2
    driver: str  # CGROUPFS or SYSTEMD
    parent: str  # cgroupfs: a path below each hierarchy's root; systemd: a slice name
    root: Path = ROOT

    @classmethod
    def detect(cls, exec_opts: list[str], parent: str = "", root: Path = ROOT) -> CgroupHost:
        v2 = unified(root)
        driver = driver_from_exec_opts(exec_opts, v2, systemd_running())
        parent = parent or DEFAULT_PARENT[driver]
        if driver == SYSTEMD and not parent.endswith(".slice"):
            raise errors.InvalidParameter(
                'cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"'
            )
        return cls(2 if v2 else 1, driver, parent.strip("/"), root)

    @property
    def systemd(self) -> bool:
        return self.driver == SYSTEMD

    @property
    def default_cgroupns(self) -> str:
        return "private" if self.version == 2 else "host"

    def cgroups_path(self, cid: str) -> str:
        """runc's linux.cgroupsPath for a container."""
        if self.systemd:
            return f"{self.parent}:{SCOPE_PREFIX}:{cid}"
        return f"/{self.parent}/{cid}"

    def _relative(self, cid: str = "") -> str:
        if self.systemd:
            base = slice_path(self.parent)
            return f"{base}/{SCOPE_PREFIX}-{cid}.scope" if cid else base
        return f"{self.parent}/{cid}" if cid else self.parent

    def hierarchies(self) -> list[Path]:
        """The root of each mounted hierarchy: the one unified root on v2; on v1 every
        controller's (and the hybrid `unified` one, where runc also makes the cgroup)."""
        if self.version == 2:
            return [self.root]
        found = []
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    found.append(Path(entry.path))
        return found

    def container_dirs(self, cid: str) -> list[Path]:
        """Every directory the container's cgroup may have, existing or not."""
        rel = self._relative(cid)
        return [h / rel for h in self.hierarchies()]

    def parent_dirs(self) -> list[Path]:
        rel = self._relative()
        return [h / rel for h in self.hierarchies()]

    def remove(self, cid: str) -> None:
        """Remove the container's empty cgroups that a killed runc may have left behind."""
        for d in self.container_dirs(cid):
            with contextlib.suppress(OSError):
                os.rmdir(d)

    def controller_dir(self, cid: str, controller: str) -> Path:
        """Where a controller's files for the container are: its one directory on v2, the
        controller's hierarchy on v1 (`cpu` and `cpuacct` name the same one where they are
        mounted together, through the host's symlinks)."""
        rel = self._relative(cid)
        return self.root / rel if self.version == 2 else self.root / controller / rel

    def unified_dir(self, cid: str) -> Path:
        """The container's v2 directory (every controller's files in one place)."""
        return self.root / self._relative(cid)

    def memory_dir(self, cid: str) -> Path:
        """Where the container's memory files are (memory.max on v2, memory.limit_in_bytes
        under the memory controller on v1)."""
        return self.controller_dir(cid, "memory")

    def frozen(self, cid: str) -> bool:
        """Whether the container's processes are frozen (runc pause), read from the cgroup as
        runc itself decides: v2 `cgroup.freeze`, v1 the freezer's `freezer.state`."""
        try:
            if self.version == 2:
                return (self.unified_dir(cid) / "cgroup.freeze").read_text().strip() == "1"
            state = (self.controller_dir(cid, "freezer") / "freezer.state").read_text().strip()
        except OSError:
            return False  # no cgroup (yet, or any more): nothing is frozen
        return state in ("FROZEN", "FREEZING")

    @functools.cached_property
    def features(self) -> CgroupFeatures:
        """Read once, from the hierarchies' roots: v1 the controllers' files (blkio.weight,
        memory.kmem.limit_in_bytes, cpuset.cpus/mems), v2 the root's cgroup.controllers (io) and
        cpuset.cpus.effective / cpuset.mems.effective; no kernel memory on v2."""
        r = self.root
        if self.version == 2:
            controllers = _read(r / "cgroup.controllers").split()
            return CgroupFeatures(
                blkio_weight="io" in controllers,
                kernel_memory=False,
                cpus=_read(r / "cpuset.cpus.effective"),
                mems=_read(r / "cpuset.mems.effective"),
            )
        return CgroupFeatures(
            blkio_weight=(r / "blkio" / "blkio.weight").exists(),
            kernel_memory=(r / "memory" / "memory.kmem.limit_in_bytes").exists(),
            cpus=_read(r / "cpuset" / "cpuset.cpus"),
            mems=_read(r / "cpuset" / "cpuset.mems"),
        )
