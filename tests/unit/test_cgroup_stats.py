"""#15 E6: a container's stats read from fake cgroup trees (runtime/cgroupstats.py): the v2 files
(cpu.stat in usec, memory.current/max/stat/events, pids, io.stat) and the v1 controllers
(cpuacct, cpu, memory, pids, blkio CFQ or throttle) become dockerd's JSON; the paths come from
CgroupHost for both drivers; /proc/stat and /proc/net/dev are read as dockerd reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.network import counters
from dockyard.network.records import EndpointRow
from dockyard.runtime import cgroupstats
from dockyard.runtime.cgroups import CgroupHost

CID = "c" * 64
GIB = 1 << 30


def _write(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)


def _v2_tree(root: Path, d: Path, memory_max: str = "67108864") -> None:
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    _write(d, {
        "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
                    "nr_periods 10\nnr_throttled 3\nthrottled_usec 7000\n",
        "memory.current": "70000000\n",
        "memory.max": memory_max + "\n",
        "memory.stat": "anon 65000000\nfile 4096\ninactive_file 1000000\nshmem 0\n"
                       "workingset_refault_anon 5\nunknown_key 9\n",
        "memory.events": "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n",
        "pids.current": "3\n",
        "pids.max": "max\n",
        "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                   "253:1 rbytes=10 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    })  # fmt: skip


@pytest.mark.parametrize("driver", ["cgroupfs", "systemd"])
def test_v2_files_become_dockerds_fields(tmp_path: Path, driver: str) -> None:
    parent = "system.slice" if driver == "systemd" else "dockyard"
    host = CgroupHost(2, driver, parent, tmp_path)
    want_dir = (tmp_path / f"system.slice/dockyard-{CID}.scope" if driver == "systemd"
                else tmp_path / "dockyard" / CID)  # fmt: skip
    assert host.unified_dir(CID) == want_dir == host.controller_dir(CID, "memory")
    _v2_tree(tmp_path, want_dir)
    s = cgroupstats.read(host, CID, machine_memory=8 * GIB)
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"] == {"total_usage": 2_500_000_000, "usage_in_kernelmode": 500_000_000,
                                "usage_in_usermode": 2_000_000_000}  # fmt: skip
    assert cpu["throttling_data"] == {"periods": 10, "throttled_periods": 3,
                                      "throttled_time": 7_000_000}  # fmt: skip
    mem = s["memory_stats"]
    assert (mem["usage"], mem["limit"], mem["failcnt"]) == (70_000_000, 67108864, 2)
    assert "max_usage" not in mem  # v2 has no high-water mark, as dockerd shows
    assert list(mem["stats"]) == sorted(cgroupstats.V2_MEMORY_KEYS)
    assert (mem["stats"]["anon"], mem["stats"]["inactive_file"]) == (65_000_000, 1_000_000)
    assert mem["stats"]["workingset_refault"] == 0 and "unknown_key" not in mem["stats"]
    assert s["pids_stats"] == {"current": 3, "limit": 0}  # "max": no limit
    blk = s["blkio_stats"]
    assert list(blk) == list(cgroupstats.BLKIO_KEYS)
    assert blk["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096},
        {"major": 8, "minor": 0, "op": "write", "value": 8192},
        {"major": 253, "minor": 1, "op": "read", "value": 10},
        {"major": 253, "minor": 1, "op": "write", "value": 0},
    ]
    assert blk["io_serviced_recursive"] is None  # v2: only the bytes, as dockerd


def test_v2_unlimited_memory_shows_the_hosts(tmp_path: Path) -> None:
    host = CgroupHost(2, "cgroupfs", "dockyard", tmp_path)
    _v2_tree(tmp_path, host.unified_dir(CID), memory_max="max")
    assert cgroupstats.read(host, CID, 8 * GIB)["memory_stats"]["limit"] == 8 * GIB


def test_a_missing_cgroup_is_not_running(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("")
    with pytest.raises(cgroupstats.NotRunning):
        cgroupstats.read(CgroupHost(2, "cgroupfs", "dockyard", tmp_path), CID, GIB)
    with pytest.raises(cgroupstats.NotRunning):
        cgroupstats.read(CgroupHost(1, "cgroupfs", "dockyard", tmp_path), CID, GIB)


def _v1_tree(host: CgroupHost, cfq: bool) -> None:
    rel = lambda c: host.controller_dir(CID, c)  # noqa: E731
    ticks = cgroupstats.CLOCK_TICKS
    _write(rel("cpuacct"), {
        "cpuacct.usage": "3000000000\n",
        "cpuacct.usage_percpu": "1000000000 2000000000 \n",
        "cpuacct.stat": f"user {2 * ticks}\nsystem {ticks}\n",
    })  # fmt: skip
    _write(rel("cpu"), {"cpu.stat": "nr_periods 5\nnr_throttled 1\nthrottled_time 42\n"})
    _write(rel("memory"), {
        "memory.usage_in_bytes": "70000000\n",
        "memory.max_usage_in_bytes": "80000000\n",
        "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.failcnt": "0\n",
        "memory.stat": "cache 4096\nrss 65000000\ntotal_inactive_file 2000000\nswap 0\n",
    })  # fmt: skip
    _write(rel("pids"), {"pids.current": "2\n", "pids.max": "100\n"})
    blk = {
        "blkio.throttle.io_service_bytes": "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\n"
                                           "Total 4608\n",
        "blkio.throttle.io_serviced": "8:0 Read 1\n8:0 Write 1\nTotal 2\n",
    }  # fmt: skip
    if cfq:
        blk.update({"blkio.io_serviced_recursive": "8:16 Read 3\nTotal 3\n",
                    "blkio.io_service_bytes_recursive": "8:16 Read 12288\nTotal 12288\n",
                    "blkio.sectors_recursive": "8:16 24\n"})  # fmt: skip
    _write(rel("blkio"), blk)


def test_v1_controllers_become_dockerds_fields(tmp_path: Path) -> None:
    host = CgroupHost(1, "cgroupfs", "dockyard", tmp_path)
    assert host.controller_dir(CID, "blkio") == tmp_path / "blkio" / "dockyard" / CID
    _v1_tree(host, cfq=False)
    s = cgroupstats.read(host, CID, machine_memory=8 * GIB)
    usage = s["cpu_stats"]["cpu_usage"]
    assert list(usage) == ["total_usage", "percpu_usage", "usage_in_kernelmode",
                           "usage_in_usermode"]  # fmt: skip
    assert usage == {"total_usage": 3_000_000_000, "percpu_usage": [1_000_000_000, 2_000_000_000],
                     "usage_in_kernelmode": 1_000_000_000, "usage_in_usermode": 2_000_000_000}  # fmt: skip
    assert s["cpu_stats"]["throttling_data"] == {"periods": 5, "throttled_periods": 1,
                                                 "throttled_time": 42}  # fmt: skip
    mem = s["memory_stats"]
    assert (mem["usage"], mem["max_usage"], mem["limit"]) == (70_000_000, 80_000_000, 8 * GIB)
    assert mem["stats"]["total_inactive_file"] == 2_000_000 and mem["stats"]["cache"] == 4096
    assert "swap" not in mem["stats"] and len(mem["stats"]) == 32
    assert s["pids_stats"] == {"current": 2, "limit": 100}
    blk = s["blkio_stats"]
    assert blk["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 512},
        {"major": 8, "minor": 0, "op": "Total", "value": 4608},
    ]
    assert len(blk["io_serviced_recursive"]) == 2
    assert blk["sectors_recursive"] == [] and blk["io_queue_recursive"] == []  # v1: lists


def test_v1_cfq_statistics_win_when_present(tmp_path: Path) -> None:
    host = CgroupHost(1, "cgroupfs", "dockyard", tmp_path)
    _v1_tree(host, cfq=True)
    blk = cgroupstats.read(host, CID, 8 * GIB)["blkio_stats"]
    assert blk["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 16, "op": "Read", "value": 12288}
    ]
    assert blk["sectors_recursive"] == [{"major": 8, "minor": 16, "op": "", "value": 24}]


def test_host_cpu_reads_proc_stat_as_dockerd(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 1 50 1000 5 0 2 7 0 0\ncpu0 50 0 25 500 2 0 1 3 0 0\n"
                    "cpu1 50 1 25 500 3 0 1 4 0 0\nintr 12345\nctxt 99\n")  # fmt: skip
    total, online = cgroupstats.host_cpu(str(stat))
    assert total == (100 + 1 + 50 + 1000 + 5 + 0 + 2) * 10**9 // cgroupstats.CLOCK_TICKS
    assert online == 2


def test_interface_counters_swap_directions_on_the_host_side(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.write_text(
        "Inter-|   Receive |  Transmit\n face |bytes packets errs drop ...\n"
        "    lo: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\n"
        "vethabc: 100 2 0 1 0 0 0 0 900 9 3 4 0 0 0 0\n"
    )
    ep = EndpointRow(CID, "n", "e", "10.0.0.2", "02:42", "vethabc", {"ifname": "eth1"})
    gone = EndpointRow(CID, "m", "f", "10.0.1.2", "02:43", "vethgone", {"ifname": "eth2"})
    got = counters.interface_stats([ep, gone], dev)
    assert got == {"eth1": {"rx_bytes": 900, "rx_packets": 9, "rx_errors": 3, "rx_dropped": 4,
                            "tx_bytes": 100, "tx_packets": 2, "tx_errors": 0, "tx_dropped": 1}}  # fmt: skip
    assert counters.interface_stats([], dev) == {}
