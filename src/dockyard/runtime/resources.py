"""A live container's new limits for `runc update --resources -` (E4: `docker update`), and the
cpuset lists both sides of a cpuset check are written in.

`update_resources` is what dockerd 20.10 hands containerd for an update (daemon/update_linux.go):
the request's own values, not the merged HostConfig; runc leaves a zero unchanged, so only what
the request names changes. runc knows both cgroup versions (memory.max, cpu.max, io.weight...
on v2), which is why no cgroup file is written here."""

from __future__ import annotations

from dockyard.core.types import Json

CPU_PERIOD = 100_000  # µs, what NanoCpus is expressed against


def update_resources(res: Json) -> Json:
    """OCI LinuxResources from an update's Resources (Docker's names)."""
    period = quota = 0
    nano = int(res.get("NanoCpus") or 0)
    if nano:
        period = CPU_PERIOD
        quota = nano * CPU_PERIOD // 1_000_000_000
    if quota == 0 and res.get("CpuQuota"):
        quota = int(res["CpuQuota"])
    if period == 0 and res.get("CpuPeriod"):
        period = int(res["CpuPeriod"])
    memory: Json = {
        "limit": int(res.get("Memory") or 0),
        "reservation": int(res.get("MemoryReservation") or 0),
        "kernel": int(res.get("KernelMemory") or 0),
    }
    if int(res.get("MemorySwap") or 0) > 0:
        memory["swap"] = int(res["MemorySwap"])
    out: Json = {
        "blockIO": {"weight": int(res.get("BlkioWeight") or 0)},
        "cpu": {
            "shares": int(res.get("CpuShares") or 0),
            "cpus": res.get("CpusetCpus") or "",
            "mems": res.get("CpusetMems") or "",
            "period": period,
            "quota": quota,
        },
        "memory": memory,
    }
    pids = res.get("PidsLimit")
    if pids is not None:
        out["pids"] = {"limit": int(pids) if int(pids) > 0 else -1}  # runc: -1 lifts the limit
    return out


def parse_list(text: str) -> set[int]:
    """A cpuset list ("0-2,4") as a set; ValueError("invalid format: X") as moby's parser."""
    out: set[int] = set()
    if text == "":
        return out
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"invalid format: {text}")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"invalid format: {text}")
        out.update(range(first, last + 1))
    return out
