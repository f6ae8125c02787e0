"""Checking a container's resource limits as dockerd 20.10 does (daemon_unix.go
verifyPlatformContainerResources), for create and for `update`: Docker's words for a refusal,
its warnings for a limit the host cannot apply (which is then dropped from the request)."""

from __future__ import annotations

import os

from dockyard import errors
from dockyard.core.types import Json
from dockyard.runtime.cgroups import CgroupFeatures
from dockyard.runtime.resources import parse_list

MIN_MEMORY = 6 * 1024 * 1024

# Update's resource fields (Docker's JSON names) and their types.
INT_FIELDS = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "Memory",
              "MemorySwap", "MemoryReservation", "KernelMemory", "CpuRealtimePeriod",
              "CpuRealtimeRuntime", "PidsLimit")  # fmt: skip
STR_FIELDS = ("CpusetCpus", "CpusetMems")


def _bad(message: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(message)


def check(res: Json, host: CgroupFeatures | None, *, update: bool) -> list[str]:
    """Refuse (InvalidParameter) or return warnings; `res` loses what the host cannot apply.
    `host` None: the checks that need no host facts only."""
    warnings: list[str] = []
    memory = int(res.get("Memory") or 0)
    swap = int(res.get("MemorySwap") or 0)
    if memory != 0 and memory < MIN_MEMORY:
        raise _bad("Minimum memory limit allowed is 6MB")
    if memory > 0 and 0 < swap < memory:
        raise _bad("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise _bad("You should always set the Memory limit when using Memoryswap limit, see usage")
    reservation = int(res.get("MemoryReservation") or 0)
    if 0 < reservation < MIN_MEMORY:
        raise _bad("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise _bad("Minimum memory limit can not be less than memory reservation limit, see usage")
    if int(res.get("KernelMemory") or 0) > 0:
        warnings.append(
            "Specifying a kernel memory limit is deprecated and will be removed in a future release."
        )
        if host is not None and not host.kernel_memory:
            warnings.append(
                "Your kernel does not support kernel memory limit capabilities or the cgroup is "
                "not mounted. Limitation discarded."
            )
            res["KernelMemory"] = 0
    if 0 < int(res.get("KernelMemory") or 0) < MIN_MEMORY:
        raise _bad("Minimum kernel memory limit allowed is 6MB")
    nano = int(res.get("NanoCpus") or 0)
    period, quota = int(res.get("CpuPeriod") or 0), int(res.get("CpuQuota") or 0)
    if nano > 0 and period > 0:
        raise _bad("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise _bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    ncpu = os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 10**9:
        raise _bad(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if period != 0 and not 1000 <= period <= 1_000_000:
        raise _bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < quota < 1000:
        raise _bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if host is not None:
        _check_cpuset(res, host)
    weight = int(res.get("BlkioWeight") or 0)
    if weight > 0 and host is not None and not host.blkio_weight:
        warnings.append(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
            "Weight discarded."
        )
        res["BlkioWeight"] = weight = 0
    if weight > 0 and not 10 <= weight <= 1000:
        raise _bad("Range of blkio weight is from 10 to 1000")
    return warnings


def _check_cpuset(res: Json, host: CgroupFeatures) -> None:
    for key, what, available in (("CpusetCpus", "cpus", host.cpus), ("CpusetMems", "mems", host.mems)):  # fmt: skip
        wanted = res.get(key) or ""
        try:
            ask = parse_list(wanted)
        except ValueError as e:
            raise _bad(f"Invalid value {wanted} for cpuset {what}: {e}") from None
        have = parse_list(available) if available else ask
        if not ask <= have:
            label = "CPUs" if what == "cpus" else "memory nodes"
            raise _bad(
                f"Requested {label} are not available - requested {wanted}, available: {available}"
            )


def check_types(body: Json, struct: str) -> None:
    """Go's decoder: a field of the wrong JSON type is refused in its words."""
    for key in INT_FIELDS:
        v = body.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            kind = "string" if isinstance(v, str) else "number" if isinstance(v, float) else "value"
            raise _bad(
                f"json: cannot unmarshal {kind} into Go struct field {struct}.{key} of type int64"
            )
    for key in STR_FIELDS:
        v = body.get(key)
        if v is not None and not isinstance(v, str):
            raise _bad(
                f"json: cannot unmarshal number into Go struct field {struct}.{key} of type string"
            )
