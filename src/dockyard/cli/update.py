"""`dockyard update`: docker's `update` flags into one `POST /containers/{id}/update` per
container; each updated name is printed, then the daemon's warnings, then every failure."""

from __future__ import annotations

import argparse
from typing import Any

from dockyard.cli.client import quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session, for_each
from dockyard.cli.runflags import mem_bytes, nano_cpus, restart_policy, swap_bytes

# flag dest -> the Resources field it fills
_FIELDS = {
    "blkio_weight": "BlkioWeight", "cpu_period": "CpuPeriod", "cpu_quota": "CpuQuota",
    "cpu_rt_period": "CpuRealtimePeriod", "cpu_rt_runtime": "CpuRealtimeRuntime",
    "cpuset_cpus": "CpusetCpus", "cpuset_mems": "CpusetMems", "cpu_shares": "CpuShares",
    "memory": "Memory", "memory_reservation": "MemoryReservation", "memory_swap": "MemorySwap",
    "kernel_memory": "KernelMemory", "cpus": "NanoCpus",
}  # fmt: skip


def _flags(p: Parser) -> None:
    a = p.add_argument
    a("--blkio-weight", type=int, default=None)
    a("--cpu-period", type=int, default=None)
    a("--cpu-quota", type=int, default=None)
    a("--cpu-rt-period", type=int, default=None)
    a("--cpu-rt-runtime", type=int, default=None)
    a("--cpuset-cpus", default=None)
    a("--cpuset-mems", default=None)
    a("-c", "--cpu-shares", type=int, default=None)
    a("-m", "--memory", type=mem_bytes("-m, --memory"), default=None)
    a("--memory-reservation", type=mem_bytes("--memory-reservation"), default=None)
    a("--memory-swap", type=swap_bytes("--memory-swap"), default=None)
    a("--kernel-memory", type=mem_bytes("--kernel-memory"), default=None)
    a("--restart", default=None)
    a("--pids-limit", type=int, default=None)
    a("--cpus", type=nano_cpus, default=None)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def body(ns: argparse.Namespace) -> dict[str, Any]:
    """The UpdateConfig docker-cli sends: every resource field (zero when not given), the
    restart policy only when --restart is given."""
    given = [dest for dest in (*_FIELDS, "restart", "pids_limit") if getattr(ns, dest) is not None]
    if not given:
        raise CLIError("you must provide one or more flags when using this command")
    out: dict[str, Any] = {
        field: getattr(ns, dest) or ("" if dest.startswith("cpuset") else 0)
        for dest, field in _FIELDS.items()
    }
    if ns.pids_limit:
        out["PidsLimit"] = ns.pids_limit
    policy = {"Name": "", "MaximumRetryCount": 0}
    if ns.restart:
        try:
            policy = restart_policy(ns.restart)
        except CLIError as e:
            raise CLIError(e.message) from None
    out["RestartPolicy"] = policy
    return out


def _update(ns: argparse.Namespace, s: Session) -> int:
    request = body(ns)
    warnings: list[str] = []

    def act(name: str) -> None:
        result = s.client.post(f"/containers/{quote_path(name)}/update", None, request) or {}
        warnings.extend(result.get("Warnings") or [])

    try:
        return for_each(s, ns.containers, act)
    finally:
        if warnings:
            s.print("\n".join(warnings))


COMMANDS = {"update": Command("[OPTIONS] CONTAINER [CONTAINER...]", _flags, _update)}
