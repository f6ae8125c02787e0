"""A running container's resource counters read from its cgroup (E6), in the shape dockerd 20.10
puts them in `GET /containers/{id}/stats`: `cpu_stats` (without the host's system usage and
CPU count, which the caller adds once per sample), `memory_stats`, `pids_stats`, `blkio_stats`.

cgroup v1 (each controller its own hierarchy): cpuacct.usage/usage_percpu/stat, cpu.stat,
memory.{usage_in_bytes,max_usage_in_bytes,limit_in_bytes,failcnt,stat} with dockerd's fixed set
of memory.stat keys (cache, rss, ..., total_*), pids.{current,max}, blkio's CFQ `*_recursive`
files or, where they are absent or empty (blk-mq kernels), `blkio.throttle.io_service{d,_bytes}`.
cgroup v2 (one directory): cpu.stat (usec, times 1000), memory.{current,max,stat,events} with
dockerd's v2 key set (anon, file, ...; no max_usage), pids.{current,max}, io.stat as read/write
byte entries. A missing file reads as dockerd's zero; a missing cgroup raises NotRunning.
Only the host's MemTotal caps an unlimited `limit`, as dockerd does."""

from __future__ import annotations

import os

from dockyard.core.types import Json
from dockyard.runtime.cgroups import CgroupHost

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NS = 1_000_000_000

V1_MEMORY_KEYS = (
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
    "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file",
    "unevictable", "hierarchical_memory_limit", "hierarchical_memsw_limit",
)  # fmt: skip
V1_TOTAL_KEYS = (
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
    "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file",
    "unevictable",
)  # fmt: skip
V2_MEMORY_KEYS = (
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
    "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file",
    "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault",
    "workingset_refault", "workingset_activate", "workingset_nodereclaim", "pgrefill", "pgscan",
    "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc",
    "thp_collapse_alloc",
)  # fmt: skip
V1_CFQ_FILES = (
    ("sectors_recursive", "sectors_recursive"),
    ("io_service_bytes_recursive", "io_service_bytes_recursive"),
    ("io_serviced_recursive", "io_serviced_recursive"),
    ("io_queued_recursive", "io_queue_recursive"),
    ("io_service_time_recursive", "io_service_time_recursive"),
    ("io_wait_time_recursive", "io_wait_time_recursive"),
    ("io_merged_recursive", "io_merged_recursive"),
    ("time_recursive", "io_time_recursive"),
)
BLKIO_KEYS = (  # dockerd's field order
    "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
    "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
    "io_time_recursive", "sectors_recursive",
)  # fmt: skip


class NotRunning(Exception):
    """The container has no cgroup (it stopped, or never ran)."""


def _text(path: str) -> str | None:
    """A cgroup file's text, or None when it is missing. Raw os.read: a sample reads about a
    dozen of these, and where syscalls are slow each open already costs tens of microseconds."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    except OSError:
        return None
    finally:
        os.close(fd)


def _int(path: str) -> int:
    """A one-number file; `max` (no limit) and a missing file read as 0, as containerd's."""
    text = _text(path)
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def _pairs(text: str | None) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, cpuacct.stat, memory.events)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def empty_blkio() -> Json:
    return {key: None for key in BLKIO_KEYS}


def _blkio_entries(text: str | None) -> list[Json]:
    """v1 `MAJ:MIN Op value` lines (`MAJ:MIN value` in the files without an op); the `Total`
    line is not a device."""
    entries = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) < 2 or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        op, value = (fields[1], fields[2]) if len(fields) >= 3 else ("", fields[1])
        try:
            entries.append({"major": int(major), "minor": int(minor), "op": op,
                            "value": int(value)})  # fmt: skip
        except ValueError:
            continue
    return entries


def _blkio_v1(d: str) -> Json:
    """dockerd copies each of the eight lists, so v1 shows `[]` where v2 shows null."""
    out: Json = {key: [] for key in BLKIO_KEYS}
    if os.path.lexists(f"{d}/blkio.io_serviced_recursive"):
        for name, key in V1_CFQ_FILES:
            out[key] = _blkio_entries(_text(f"{d}/blkio.{name}"))
        if any(out[key] for key in BLKIO_KEYS):
            return out
    # blk-mq kernels have no CFQ statistics: dockerd falls back to the throttle counters.
    out["io_serviced_recursive"] = _blkio_entries(_text(f"{d}/blkio.throttle.io_serviced"))
    out["io_service_bytes_recursive"] = _blkio_entries(
        _text(f"{d}/blkio.throttle.io_service_bytes")
    )
    return out


def _blkio_v2(text: str | None) -> Json:
    """io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N ...` -> dockerd's read/write byte entries."""
    out = empty_blkio()
    entries = []
    for line in (text or "").splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        kv = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            entries.append({"major": int(major), "minor": int(minor), "op": op,
                            "value": int(kv.get(key, 0))})  # fmt: skip
    out["io_service_bytes_recursive"] = entries or None
    return out


def _throttling(periods: int, throttled: int, time_ns: int) -> Json:
    return {"periods": periods, "throttled_periods": throttled, "throttled_time": time_ns}


def read_v1(dirs: dict[str, str]) -> Json:
    mem = dirs["memory"]
    usage_text = _text(f"{mem}/memory.usage_in_bytes")
    if usage_text is None:
        raise NotRunning
    acct = dirs["cpuacct"]
    percpu = [int(v) for v in (_text(f"{acct}/cpuacct.usage_percpu") or "").split()]
    times = _pairs(_text(f"{acct}/cpuacct.stat"))
    throttle = _pairs(_text(f"{dirs['cpu']}/cpu.stat"))
    # cpuacct.usage is the sum of the per-CPU counters (the kernel adds them up): one read less
    total = sum(percpu) if percpu else _int(f"{acct}/cpuacct.usage")
    cpu_usage: Json = {"total_usage": total}
    if percpu:
        cpu_usage["percpu_usage"] = percpu
    cpu_usage["usage_in_kernelmode"] = times.get("system", 0) * NS // CLOCK_TICKS
    cpu_usage["usage_in_usermode"] = times.get("user", 0) * NS // CLOCK_TICKS
    raw = _pairs(_text(f"{mem}/memory.stat"))
    keys = [*V1_MEMORY_KEYS, *(f"total_{key}" for key in V1_TOTAL_KEYS)]
    stats = {key: raw.get(key, 0) for key in sorted(keys)}  # a Go map: sorted keys
    memory: Json = {
        "usage": int(usage_text or 0),
        "max_usage": _int(f"{mem}/memory.max_usage_in_bytes"),
        "stats": stats,
        "failcnt": _int(f"{mem}/memory.failcnt"),
        "limit": _int(f"{mem}/memory.limit_in_bytes"),
    }
    pids = dirs["pids"]
    return {
        "cpu_stats": {
            "cpu_usage": cpu_usage,
            "throttling_data": _throttling(
                throttle.get("nr_periods", 0),
                throttle.get("nr_throttled", 0),
                throttle.get("throttled_time", 0),
            ),
        },
        "memory_stats": memory,
        "pids_stats": {"current": _int(f"{pids}/pids.current"), "limit": _int(f"{pids}/pids.max")},
        "blkio_stats": _blkio_v1(dirs["blkio"]),
    }


def read_v2(d: str) -> Json:
    cpu = _pairs(_text(f"{d}/cpu.stat"))
    current = _text(f"{d}/memory.current")
    if current is None and not cpu:
        raise NotRunning
    raw = _pairs(_text(f"{d}/memory.stat"))
    memory: Json = {
        "usage": int(current or 0),
        "stats": {key: raw.get(key, 0) for key in sorted(V2_MEMORY_KEYS)},
        "failcnt": _pairs(_text(f"{d}/memory.events")).get("oom", 0),
        "limit": _int(f"{d}/memory.max"),
    }
    return {
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": cpu.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
                "usage_in_usermode": cpu.get("user_usec", 0) * 1000,
            },
            "throttling_data": _throttling(
                cpu.get("nr_periods", 0),
                cpu.get("nr_throttled", 0),
                cpu.get("throttled_usec", 0) * 1000,
            ),
        },
        "memory_stats": memory,
        "pids_stats": {"current": _int(f"{d}/pids.current"), "limit": _int(f"{d}/pids.max")},
        "blkio_stats": _blkio_v2(_text(f"{d}/io.stat")),
    }


def read(host: CgroupHost, cid: str, machine_memory: int) -> Json:
    """One sample of the container's cgroup counters (NotRunning: it has no cgroup)."""
    if host.version == 2:
        sample = read_v2(str(host.unified_dir(cid)))
    else:
        controllers = ("cpu", "cpuacct", "memory", "pids", "blkio")
        sample = read_v1({c: str(host.controller_dir(cid, c)) for c in controllers})
    memory = sample["memory_stats"]
    if machine_memory and (memory["limit"] == 0 or memory["limit"] > machine_memory):
        memory["limit"] = machine_memory  # no limit: the host's memory, as dockerd
    return sample


def host_cpu(proc_stat: str = "/proc/stat") -> tuple[int, int]:
    """(system_cpu_usage in ns, online CPUs) from /proc/stat, as dockerd's collector reads
    them: the first seven fields of the `cpu` line in clock ticks, and the `cpuN` lines."""
    text = _text(proc_stat) or ""
    total = online = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            total = sum(int(v) for v in line.split()[1:8]) * NS // CLOCK_TICKS
        elif line.startswith("cpu"):
            online += 1
        elif total:
            break
    return total, online


def machine_memory(meminfo: str = "/proc/meminfo") -> int:
    for line in (_text(meminfo) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0
