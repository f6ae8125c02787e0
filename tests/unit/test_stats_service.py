"""#15 E6: the stats collaborator's sampling policy (services/containers/stats.py, D-stats-1) on a
fake v2 cgroup tree, and the CLI's arithmetic (cli/statsrows.py) as docker-cli computes it:
stream=false samples twice GAP apart when nothing is cached and reuses a recent sample
otherwise, one-shot has no precpu, a stale sample is not a precpu and is dropped, a stopped
container gets the zeroed sample; CPU %, memory without inactive file cache (v1 and v2), block
and network I/O, binary/decimal sizes and the `--` of a row without data."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.cli.statsrows import StatsRow, block_io, cpu_percent, memory_used
from dockyard.core.container import ContainerRecord
from dockyard.core.timefmt import ZERO_TIME
from dockyard.runtime.cgroups import CgroupHost
from dockyard.services.containers import stats as stats_mod
from dockyard.services.containers.stats import Stats

CID = "a" * 64


class FakeShared:
    def __init__(self, rec: ContainerRecord) -> None:
        self.rec = rec

    def get(self, ref: str) -> ContainerRecord:
        return self.rec

    view = get  # stats reads records as shared views


class FakeNet:
    def interface_stats(self, rec: ContainerRecord) -> dict[str, Any]:
        return {"eth0": {"rx_bytes": 1, "tx_bytes": 2}}


def _service(tmp_path: Path, status: str = "running") -> tuple[Stats, Path]:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids io\n")
    host = CgroupHost(2, "cgroupfs", "dockyard", tmp_path)
    d = host.unified_dir(CID)
    d.mkdir(parents=True)
    for name, text in {"cpu.stat": "usage_usec 1000\nuser_usec 600\nsystem_usec 400\n",
                       "memory.current": "4096\n", "memory.max": "max\n",
                       "pids.current": "1\n"}.items():  # fmt: skip
        (d / name).write_text(text)
    rec = ContainerRecord(CID, "web", "", "sha256:x", doc={"State": {"Status": status}})
    svc = Stats(FakeShared(rec), host, FakeNet())  # type: ignore[arg-type]
    return svc, d


def test_stream_false_samples_twice_then_reuses_the_last(tmp_path: Path) -> None:
    svc, d = _service(tmp_path)
    t0 = time.monotonic()
    first = asyncio.run(svc.once("web", one_shot=False))
    assert time.monotonic() - t0 >= stats_mod.GAP
    assert first["preread"] != ZERO_TIME and first["name"] == "/web"
    assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 1_000_000
    assert first["networks"] == {"eth0": {"rx_bytes": 1, "tx_bytes": 2}}
    (d / "cpu.stat").write_text("usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\n")
    second = asyncio.run(svc.once("web", one_shot=False))
    assert second["preread"] == first["read"]  # the cached sample is the precpu
    assert second["cpu_stats"]["cpu_usage"]["total_usage"] == 5_000_000
    assert second["precpu_stats"] == first["cpu_stats"]


def test_one_shot_has_no_precpu_and_a_stale_sample_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, _ = _service(tmp_path)
    shot = asyncio.run(svc.once("web", one_shot=True))
    assert shot["preread"] == ZERO_TIME
    assert shot["precpu_stats"] == stats_mod.zero_cpu()
    svc.last[CID].taken -= stats_mod.MAX_AGE + 1  # long ago
    fresh = asyncio.run(svc.once("web", one_shot=False))
    assert fresh["preread"] not in (ZERO_TIME, shot["read"])
    svc.last["gone" * 16] = stats_mod.Sample({}, time.monotonic() - 2 * stats_mod.MAX_AGE)
    svc._swept -= 2 * stats_mod.MAX_AGE
    asyncio.run(svc.once("web", one_shot=True))
    assert list(svc.last) == [CID]  # the stale entry went with the next store


def test_a_stopped_container_gets_dockerds_zeroed_sample(tmp_path: Path) -> None:
    svc, _ = _service(tmp_path, status="exited")
    doc = asyncio.run(svc.once("web", one_shot=False))
    assert doc == stats_mod.zeroed(svc.shared.get("web"))
    assert doc["read"] == ZERO_TIME and doc["memory_stats"] == {} and "networks" not in doc


def test_cli_arithmetic_is_docker_clis() -> None:
    v = {
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 20_000,
                      "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 10_000},
    }  # fmt: skip
    assert cpu_percent(v) == pytest.approx(40.0)  # 2000/10000 * 2 CPUs
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) == 0.0
    assert memory_used({"usage": 100, "stats": {"total_inactive_file": 30}}) == 70  # v1
    assert memory_used({"usage": 100, "stats": {"inactive_file": 40}}) == 60  # v2
    assert memory_used({"usage": 100, "stats": {"inactive_file": 400}}) == 100
    blk = {"io_service_bytes_recursive": [{"op": "Read", "value": 5}, {"op": "write", "value": 7},
                                          {"op": "Total", "value": 12}]}  # fmt: skip
    assert block_io(blk) == (5, 7)
    row = StatsRow("web")
    row.update({"name": "/web", "id": CID, **v, "memory_stats": {"usage": 64 << 20,
                "limit": 256 << 20}, "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 20}},
                "pids_stats": {"current": 3}})  # fmt: skip
    assert (row.Name(), row.ID(), row.CPUPerc(), row.MemUsage(), row.MemPerc()) == (
        "web", CID[:12], "40.00%", "64MiB / 256MiB", "25.00%")  # fmt: skip
    assert (row.NetIO(), row.BlockIO(), row.PIDs()) == ("1.5kB / 20B", "0B / 0B", "3")
    row.reset()
    assert (row.CPUPerc(), row.MemUsage(), row.NetIO(), row.PIDs()) == ("--", "-- / --", "--",
                                                                        "--")  # fmt: skip
    assert StatsRow("x").Name() == "--"
