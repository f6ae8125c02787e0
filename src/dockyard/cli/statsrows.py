"""`stats` rows as docker-cli computes them from the daemon's StatsJSON: CPU % from the sample and
its precpu, memory without the inactive file cache (v1 total_inactive_file, v2 inactive_file),
block I/O from io_service_bytes_recursive, network from every interface; the columns and
headers of docker's table, `--` for a container whose stats could not be read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.units import bytes_size, human_size

STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
STATS_HEADERS = {
    "Container": "CONTAINER",
    "Name": "NAME",
    "ID": "CONTAINER ID",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def cpu_percent(v: Mapping[str, Any]) -> float:
    cpu, pre = v.get("cpu_stats") or {}, v.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    if system_delta > 0 and cpu_delta > 0:
        return float(cpu_delta) / float(system_delta) * float(online) * 100.0
    return 0.0


def memory_used(mem: Mapping[str, Any]) -> float:
    usage = mem.get("usage", 0)
    stats = mem.get("stats") or {}
    if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:  # v1
        return float(usage - stats["total_inactive_file"])
    inactive = stats.get("inactive_file", 0)  # v2
    return float(usage - inactive) if inactive < usage else float(usage)


def block_io(blkio: Mapping[str, Any]) -> tuple[int, int]:
    read = write = 0
    for entry in blkio.get("io_service_bytes_recursive") or []:
        op = str(entry.get("op") or "")[:1].lower()
        if op == "r":
            read += entry.get("value", 0)
        elif op == "w":
            write += entry.get("value", 0)
    return read, write


def network_io(networks: Mapping[str, Any] | None) -> tuple[int, int]:
    rx = sum(n.get("rx_bytes", 0) for n in (networks or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (networks or {}).values())
    return rx, tx


@dataclass
class StatsRow:
    """One container's line; `container` is what the user named (or the short id)."""

    container: str
    name: str = ""
    id: str = ""
    cpu: float = 0.0
    memory: float = 0.0
    limit: float = 0.0
    mem_percent: float = 0.0
    net: tuple[int, int] = (0, 0)
    blk: tuple[int, int] = (0, 0)
    pids: int = 0
    invalid: bool = False
    trunc: bool = True

    def update(self, v: Mapping[str, Any]) -> None:
        mem = v.get("memory_stats") or {}
        self.name, self.id = str(v.get("name") or ""), str(v.get("id") or "")
        self.cpu = cpu_percent(v)
        self.memory = memory_used(mem)
        self.limit = float(mem.get("limit", 0))
        self.mem_percent = self.memory / self.limit * 100.0 if self.limit else 0.0
        self.net = network_io(v.get("networks"))
        self.blk = block_io(v.get("blkio_stats") or {})
        self.pids = int((v.get("pids_stats") or {}).get("current", 0))
        self.invalid = False

    def reset(self) -> None:
        """docker's SetErrorAndReset: no answer in time, every column `--`."""
        self.cpu = self.memory = self.limit = self.mem_percent = 0.0
        self.net = self.blk = (0, 0)
        self.pids = 0
        self.invalid = True

    # ---- the template's fields ----------------------------------------------------------------

    def Container(self) -> str:
        return self.container

    def Name(self) -> str:
        return self.name[1:] if len(self.name) > 1 else "--"

    def ID(self) -> str:
        return self.id[:12] if self.trunc else self.id

    def CPUPerc(self) -> str:
        return "--" if self.invalid else f"{self.cpu:.2f}%"

    def MemUsage(self) -> str:
        return (
            "-- / --" if self.invalid else f"{bytes_size(self.memory)} / {bytes_size(self.limit)}"
        )

    def MemPerc(self) -> str:
        return "--" if self.invalid else f"{self.mem_percent:.2f}%"

    def NetIO(self) -> str:
        return "--" if self.invalid else f"{human_size(self.net[0])} / {human_size(self.net[1])}"

    def BlockIO(self) -> str:
        return "--" if self.invalid else f"{human_size(self.blk[0])} / {human_size(self.blk[1])}"

    def PIDs(self) -> str:
        return "--" if self.invalid else str(self.pids)

    def as_json(self) -> dict[str, str]:
        keys = ("BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO",
                "PIDs")  # fmt: skip
        return {k: getattr(self, k)() for k in keys}
