"""The OCI runtime config (config.json) for a container, built from Docker-shaped inputs.

`build_spec` is pure: everything it needs from the host (bounding capabilities, rlimits, swap
accounting) is passed in, so it is unit-tested without root. Defaults mirror Docker's
(moby oci/defaults.go + daemon/oci_linux.go); see MISSION E4."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.core.types import Json
from dockyard.runtime import seccomp
from dockyard.runtime.capabilities import ALL_CAPS, caps_from_mask, effective_caps
from dockyard.runtime.users import resolve_user

__all__ = ["build_spec", "container_env", "privileged_capabilities", "process_args", "resolve_user"]


OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
RLIM_INFINITY = 2**64 - 1
CPU_PERIOD = 100_000

MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _dev(major: int, minor: int | None, allow: bool = True) -> Json:
    rule: Json = {"allow": allow, "type": "c", "major": major, "access": "rwm"}
    if minor is not None:
        rule["minor"] = minor
    return rule


# Deny everything, then allow what Docker allows: null zero full random urandom tty console
# ptmx, the pts range and tun; /dev/net/tun-like 10:229 (fuse) stays denied as in Docker.
DEVICE_RULES: list[Json] = [
    {"allow": False, "access": "rwm"},
    _dev(1, 5),
    _dev(1, 3),
    _dev(1, 9),
    _dev(1, 8),
    _dev(5, 0),
    _dev(5, 1),
    _dev(10, 229, allow=False),
    _dev(1, 7),
    _dev(136, None),
    _dev(5, 2),
    _dev(10, 200),
]


def _bounding(host_cap_bounding: int | list[str] | None) -> list[str] | None:
    if isinstance(host_cap_bounding, int):
        return caps_from_mask(host_cap_bounding)
    return host_cap_bounding


def privileged_capabilities(host_cap_bounding: int | list[str] | None = None) -> list[str]:
    """What --privileged grants: every capability the daemon's own bounding set holds."""
    bounding = _bounding(host_cap_bounding)
    return [c for c in ALL_CAPS if bounding is None or c in bounding]


def process_args(config: Json) -> list[str]:
    """Entrypoint + Cmd, as Docker combines them."""

    def as_list(v: Any) -> list[str]:
        if not v:
            return []
        return [v] if isinstance(v, str) else [str(x) for x in v]

    args = as_list(config.get("Entrypoint")) + as_list(config.get("Cmd"))
    if not args:
        raise errors.InvalidParameter("no command specified")
    return args


def container_env(config: Json) -> list[str]:
    """Docker's base environment overridden by the container's Env; an entry without "=" is
    not set (and unsets a default of that name), as dockerd's ReplaceOrAppendEnvValues."""
    env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={config.get('Hostname') or ''}"]
    if config.get("Tty"):
        env.append("TERM=xterm")
    for item in config.get("Env") or []:
        key, sep, _ = item.partition("=")
        env = [e for e in env if e.split("=", 1)[0] != key]
        if sep:
            env.append(item)
    return env


def _default_mounts(privileged: bool, shm_size: int) -> list[Json]:
    ro = [] if privileged else ["ro"]
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", *ro],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": [*ro, "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"],
        },
    ]


def _mounts(host_config: Json, extra: list[Json]) -> list[Json]:
    shm = int(host_config.get("ShmSize") or DEFAULT_SHM_SIZE)
    taken = {m["destination"] for m in extra}
    # A user mount on /dev (or below a default) replaces that default, as in Docker.
    defaults = [
        m
        for m in _default_mounts(bool(host_config.get("Privileged")), shm)
        if m["destination"] not in taken
    ]
    # Parents before children, so a volume under another volume is mounted on top of it.
    ordered = sorted(extra, key=lambda m: len([p for p in m["destination"].split("/") if p]))
    return defaults + ordered


HostRlimits = Mapping[str, "tuple[int, int] | int"]


def _ceiling(host_rlimits: HostRlimits | None, kind: str) -> int | None:
    """The daemon's hard limit for `kind`; None when unknown or unlimited (-1 from Python)."""
    value = (host_rlimits or {}).get(kind)
    hard = value[1] if isinstance(value, tuple) else value
    return None if hard is None or hard < 0 or hard == RLIM_INFINITY else hard


def _rlimits(host_config: Json, host_rlimits: HostRlimits | None) -> list[Json]:
    out = []
    for u in host_config.get("Ulimits") or []:
        kind = "RLIMIT_" + str(u["Name"]).upper()
        soft, hard = (
            RLIM_INFINITY if v < 0 else int(v) for v in (u.get("Soft", 0), u.get("Hard", 0))
        )
        # Without CAP_SYS_RESOURCE no process may raise a hard limit above its own.
        ceiling = _ceiling(host_rlimits, kind)
        if ceiling is not None:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        out.append({"type": kind, "hard": hard, "soft": min(soft, hard)})
    return out


def _resources(hc: Json, swap_accounting: bool) -> Json:
    res: Json = {
        "devices": [{"allow": True, "access": "rwm"}]
        if hc.get("Privileged")
        else list(DEVICE_RULES)
    }
    memory: Json = {}
    if hc.get("Memory"):
        memory["limit"] = int(hc["Memory"])
        swap = int(hc.get("MemorySwap") or 0) or 2 * int(hc["Memory"])
        if swap_accounting:
            memory["swap"] = swap  # -1 = unlimited swap, as Docker passes it on
    if hc.get("MemoryReservation"):
        memory["reservation"] = int(hc["MemoryReservation"])
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness >= 0:
        memory["swappiness"] = int(swappiness)
    if hc.get("OomKillDisable"):
        memory["disableOOMKiller"] = True
    if memory:
        res["memory"] = memory
    cpu: Json = {}
    if hc.get("CpuShares"):
        cpu["shares"] = int(hc["CpuShares"])
    if hc.get("NanoCpus"):
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = int(hc["NanoCpus"]) * CPU_PERIOD // 1_000_000_000
    if hc.get("CpuPeriod"):
        cpu["period"] = int(hc["CpuPeriod"])
    if hc.get("CpuQuota"):
        cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if hc.get("BlkioWeight"):
        res["blockIO"] = {"weight": int(hc["BlkioWeight"])}
    # No limit is "max", said outright: under the systemd driver runc otherwise leaves the
    # scope at systemd's DefaultTasksMax (15% of the kernel's, moby#45188), not what Docker
    # documents for an unset or -1 --pids-limit.
    limit = int(hc.get("PidsLimit") or 0)
    res["pids"] = {"limit": limit if limit > 0 else -1}
    return res


def _namespaces(hc: Json, netns_path: str | None) -> list[Json]:
    ns: list[Json] = [{"type": "mount"}]
    if hc.get("PidMode") != "host":
        ns.append({"type": "pid"})
    if hc.get("IpcMode") != "host":
        ns.append({"type": "ipc"})
    if hc.get("UTSMode") != "host":
        ns.append({"type": "uts"})
    if netns_path is None:
        ns.append({"type": "network"})
    elif netns_path != "host":
        ns.append({"type": "network", "path": netns_path})
    if hc.get("CgroupnsMode") == "private":  # the container sees its own cgroup as /
        ns.append({"type": "cgroup"})
    return ns


MAX_KEPT = 16  # the shim's limit of --keep paths


def paths_below(spec: Json, trees: Sequence[Path]) -> list[str] | None:
    """The paths runc opens from `spec` that lie in one of `trees`: the rootfs, namespace files
    and bind mount sources. The shim puts them back into the private mount table it makes
    without those trees for `runc create` (D-scale-4). None when they are more than it takes."""
    roots = [str(t) for t in trees]
    binds = [m.get("source") for m in spec.get("mounts") or ()
             if m.get("type") == "bind" or {"bind", "rbind"} & set(m.get("options") or ())]  # fmt: skip
    spaces = [ns.get("path") for ns in spec.get("linux", {}).get("namespaces") or ()]
    found: list[str] = []
    for path in (spec["root"]["path"], *spaces, *binds):
        if path and path not in found and any(path == r or path.startswith(r + "/") for r in roots):
            found.append(path)
    return found if len(found) <= MAX_KEPT else None


def build_spec(
    *,
    config: Json,
    host_config: Json,
    rootfs: str,
    mounts: list[Json],
    netns_path: str | None,
    cgroups_path: str,
    user: tuple[int, int, list[int]],
    process_args: list[str],
    host_cap_bounding: int | list[str] | None = None,
    host_rlimits: HostRlimits | None = None,
    swap_accounting: bool = True,
    init_binary: str | None = None,
) -> Json:
    """config.json for runc. `netns_path`: None = a new netns, "host" = the host's, else a path.
    Host facts are inputs so the function stays pure: `host_cap_bounding` (the CapBnd mask or
    names; bounds --privileged and ALL), `host_rlimits` (name -> (soft, hard) or hard, as from
    resource.getrlimit), `swap_accounting` (memory.memsw exists). `init_binary` (a tini-like
    init on the host; the caller decides from HostConfig.Init and the daemon's --init) is
    bind-mounted read-only at /sbin/docker-init and runs `docker-init -- CMD`, as dockerd does."""
    hc = host_config
    args = list(process_args)
    privileged = bool(hc.get("Privileged"))
    uid, gid, extra_gids = user
    caps = effective_caps(
        hc.get("CapAdd"), hc.get("CapDrop"), privileged, _bounding(host_cap_bounding)
    )
    # Docker gives a non-root user only a bounding set, matching what execve would leave it.
    capabilities: Json = {"bounding": caps}
    if uid == 0:
        capabilities.update(effective=caps, permitted=caps)
    extra = list(mounts)
    if init_binary:
        extra.append(
            {
                "destination": "/sbin/docker-init",
                "type": "bind",
                "source": init_binary,
                "options": ["bind", "ro"],
            }
        )
        args = ["/sbin/docker-init", "--", *args]
    process: Json = {
        "terminal": bool(config.get("Tty")),
        # umask 022 as in Docker's containers; otherwise the shim's own 077 would be inherited.
        "user": {
            "uid": uid,
            "gid": gid,
            "umask": 0o022,
            **({"additionalGids": extra_gids} if extra_gids else {}),
        },
        "args": args,
        "env": container_env(config),
        "cwd": config.get("WorkingDir") or "/",
        "capabilities": capabilities,
        "rlimits": _rlimits(hc, host_rlimits),
        "noNewPrivileges": any(
            o.split("=")[0].split(":")[0] == "no-new-privileges" and not o.endswith("false")
            for o in hc.get("SecurityOpt") or []
        ),
        "oomScoreAdj": int(hc.get("OomScoreAdj") or 0),
    }
    size = hc.get("ConsoleSize") or [0, 0]
    if config.get("Tty") and size[0] and size[1]:
        process["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
    linux: Json = {
        "resources": _resources(hc, swap_accounting),
        "cgroupsPath": cgroups_path,
        "namespaces": _namespaces(hc, netns_path),
        "sysctl": dict(hc.get("Sysctls") or {}),
        "maskedPaths": [] if privileged else list(MASKED_PATHS),
        "readonlyPaths": [] if privileged else list(READONLY_PATHS),
    }
    filter_ = seccomp.for_container(hc.get("SecurityOpt"), privileged, caps)
    if filter_ is not None:
        linux["seccomp"] = filter_
    spec: Json = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "hostname": config.get("Hostname") or "",
        "mounts": _mounts(hc, extra),
        "linux": linux,
    }
    if config.get("Domainname"):
        spec["domainname"] = config["Domainname"]
    return spec
