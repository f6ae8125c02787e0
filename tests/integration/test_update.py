"""#15 (E4) on the real kernel: `update` writes the running container's cgroup (read back from
the cgroup files: v1 here, v2 names where the host is v2), a paused one's too, refuses a memory
limit below what the container uses (and keeps the old one), is stored in HostConfig so a
stopped container starts with it and a daemon killed and started again re-adopts it unchanged,
and is announced by an `update` event with the container's name and image."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, UnixHTTPConnection, private_daemon, until

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def _file(d: Daemon, cid: str, v1_controller: str, name: str) -> str:
    host = d.cgroups
    if host.version == 2:
        return (host.container_dirs(cid)[0] / name).read_text().strip()
    rel = host.container_dirs(cid)[0].relative_to(host.hierarchies()[0])
    return (host.root / v1_controller / rel / name).read_text().strip()


def limits(d: Daemon, cid: str) -> dict[str, Any]:
    """The container's limits from its cgroup files, in Docker's units, on v1 or v2."""
    if d.cgroups.version == 2:
        quota, period = _file(d, cid, "", "cpu.max").split()
        memory = _file(d, cid, "", "memory.max")
        swap = _file(d, cid, "", "memory.swap.max")
        mem = None if memory == "max" else int(memory)
        return {
            "memory": mem,
            "memsw": None if swap == "max" or mem is None else mem + int(swap),
            "reservation": int(_file(d, cid, "", "memory.low")),
            "quota": None if quota == "max" else int(quota),
            "period": int(period),
            "cpu_weight": int(_file(d, cid, "", "cpu.weight")),
            "pids": _file(d, cid, "", "pids.max"),
            "cpus": _file(d, cid, "", "cpuset.cpus"),
        }
    big = 1 << 62
    memory = int(_file(d, cid, "memory", "memory.limit_in_bytes"))
    memsw = int(_file(d, cid, "memory", "memory.memsw.limit_in_bytes"))
    quota = int(_file(d, cid, "cpu", "cpu.cfs_quota_us"))
    return {
        "memory": None if memory > big else memory,
        "memsw": None if memsw > big else memsw,
        "reservation": int(_file(d, cid, "memory", "memory.soft_limit_in_bytes")),
        "quota": None if quota < 0 else quota,
        "period": int(_file(d, cid, "cpu", "cpu.cfs_period_us")),
        "shares": int(_file(d, cid, "cpu", "cpu.shares")),
        "pids": _file(d, cid, "pids", "pids.max"),
        "cpus": _file(d, cid, "cpuset", "cpuset.cpus"),
    }


def _shares_seen(d: Daemon, shares: int) -> dict[str, int]:
    """cpu.shares on v1; on v2 the weight runc converts them to."""
    if d.cgroups.version == 2:
        return {"cpu_weight": 1 + ((shares - 2) * 9999) // 262142}
    return {"shares": shares}


def _state(d: Daemon, cid: str) -> dict[str, Any]:
    status, info = d.api("GET", f"/containers/{cid}/json")
    assert status == 200
    state: dict[str, Any] = info["State"]
    return state


def _run(d: Daemon, *cmd: str, **hc: Any) -> str:
    status, out = d.api("POST", "/containers/create",
                        {"Image": "busybox", "Cmd": list(cmd), "HostConfig": hc})  # fmt: skip
    assert status == 201, out
    assert d.api("POST", f"/containers/{out['Id']}/start")[0] == 204
    return str(out["Id"])


def _update(d: Daemon, cid: str, body: dict[str, Any]) -> tuple[int, Any]:
    return d.api("POST", f"/containers/{cid}/update", body)


def _hc(d: Daemon, cid: str) -> dict[str, Any]:
    status, info = d.api("GET", f"/containers/{cid}/json")
    assert status == 200
    hc: dict[str, Any] = info["HostConfig"]
    return hc


def test_update_writes_the_live_cgroup_and_host_config(daemon: Daemon) -> None:
    cid = _run(daemon, "sleep", "1d")
    try:
        before = limits(daemon, cid)
        assert before["memory"] is None and before["quota"] is None and before["pids"] == "max"
        status, out = _update(daemon, cid, {
            "Memory": 64 * MiB, "MemorySwap": 128 * MiB, "MemoryReservation": 20 * MiB,
            "NanoCpus": 500_000_000, "CpuShares": 512, "PidsLimit": 50, "CpusetCpus": "0",
        })  # fmt: skip
        assert (status, out) == (200, {"Warnings": None})
        now = limits(daemon, cid)
        assert now["memory"] == 64 * MiB and now["memsw"] == 128 * MiB
        assert now["reservation"] == 20 * MiB
        assert (now["quota"], now["period"]) == (50_000, 100_000)
        assert now["pids"] == "50" and now["cpus"] == "0"
        assert _shares_seen(daemon, 512).items() <= now.items()
        hc = _hc(daemon, cid)
        assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (
            64 * MiB, 128 * MiB, 20 * MiB)  # fmt: skip
        assert (hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"], hc["CpusetCpus"]) == (
            500_000_000, 512, 50, "0")  # fmt: skip
        # a zero leaves a value as it is; -1 lifts the pids limit (0 in HostConfig, as dockerd)
        assert _update(daemon, cid, {"Memory": 0, "CpuShares": 0, "PidsLimit": -1})[0] == 200
        now = limits(daemon, cid)
        assert now["memory"] == 64 * MiB and now["pids"] == "max"
        assert _shares_seen(daemon, 512).items() <= now.items()
        assert _hc(daemon, cid)["PidsLimit"] == 0
    finally:
        daemon.api("DELETE", f"/containers/{cid}?force=1")


def test_update_of_a_paused_container_and_the_update_event(daemon: Daemon) -> None:
    since = int(time.time())
    cid = _run(daemon, "sleep", "1d")
    try:
        assert daemon.api("POST", f"/containers/{cid}/pause")[0] == 204
        assert _update(daemon, cid, {"CpuQuota": 30_000, "CpuPeriod": 60_000})[0] == 200
        now = limits(daemon, cid)
        assert (now["quota"], now["period"]) == (30_000, 60_000)
        assert daemon.api("POST", f"/containers/{cid}/unpause")[0] == 204
        filters = urllib.parse.quote(json.dumps({"container": [cid], "event": ["update"]}))
        conn = UnixHTTPConnection(str(daemon.socket))
        conn.request("GET", f"/events?since={since}&until={int(time.time()) + 1}&filters={filters}")
        lines = conn.getresponse().read().decode().splitlines()
        conn.close()
        events = [json.loads(line) for line in lines if line]
        assert [e["Action"] for e in events] == ["update"]
        _, info = daemon.api("GET", f"/containers/{cid}/json")
        attrs = events[0]["Actor"]["Attributes"]
        assert attrs["name"] == info["Name"].lstrip("/") and attrs["image"] == "busybox"
        assert events[0]["Actor"]["ID"] == cid and events[0]["Type"] == "container"
    finally:
        daemon.api("DELETE", f"/containers/{cid}?force=1")


def test_memory_below_usage_is_refused_and_nothing_changes(daemon: Daemon) -> None:
    """50 MB in /dev/shm count against the cgroup and cannot be swapped out (swap = memory)."""
    cid = _run(daemon, "sh", "-c", "head -c 50000000 /dev/zero > /dev/shm/f; touch /tmp/ok; sleep 1d",
               Memory=100 * MiB, MemorySwap=100 * MiB, ShmSize=200 * MiB)  # fmt: skip
    try:
        deadline = time.time() + 10
        while daemon.api("GET", f"/containers/{cid}/archive?path=/tmp/ok")[0] != 200:
            assert time.time() < deadline
            time.sleep(0.1)
        status, out = _update(daemon, cid, {"Memory": 20_000_000, "MemorySwap": 20_000_000})
        if daemon.cgroups.version == 2:
            # cgroup v2 takes any memory.max (runc and dockerd answer 200) and the kernel, unable
            # to reclaim the unswappable shm below it, OOM-kills the container
            assert (status, out) == (200, {"Warnings": None})
            hc = _hc(daemon, cid)
            assert (hc["Memory"], hc["MemorySwap"]) == (20_000_000, 20_000_000)
            state = until(lambda: (s := _state(daemon, cid))["Status"] == "exited" and s, 20)
            assert state and state["OOMKilled"] and state["ExitCode"] == 137
            return
        assert status == 500
        assert out["message"].startswith(
            f"Cannot update container {cid}: runc did not terminate successfully: exit status 1: "
            "unable to set memory limit to 20000000 (current usage: "
        )
        assert limits(daemon, cid)["memory"] == 100 * MiB
        hc = _hc(daemon, cid)
        assert (hc["Memory"], hc["MemorySwap"]) == (100 * MiB, 100 * MiB)
    finally:
        daemon.api("DELETE", f"/containers/{cid}?force=1")


def test_a_stopped_container_starts_with_its_updated_limits(daemon: Daemon) -> None:
    status, out = daemon.api("POST", "/containers/create",
                             {"Image": "busybox", "Cmd": ["sleep", "1d"]})  # fmt: skip
    cid = out["Id"]
    try:
        assert _update(daemon, cid, {"Memory": 48 * MiB, "MemorySwap": -1, "PidsLimit": 40,
                                     "RestartPolicy": {"Name": "unless-stopped"}})[0] == 200  # fmt: skip
        assert daemon.api("POST", f"/containers/{cid}/start")[0] == 204
        now = limits(daemon, cid)
        assert now["memory"] == 48 * MiB and now["memsw"] is None and now["pids"] == "40"
        assert _hc(daemon, cid)["RestartPolicy"] == {
            "Name": "unless-stopped",
            "MaximumRetryCount": 0,
        }
    finally:
        daemon.api("DELETE", f"/containers/{cid}?force=1")


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    with private_daemon("-upd", f"dyu{os.getpid()}") as d:
        yield d


def test_limits_hold_across_a_daemon_restart(own_daemon: Daemon) -> None:
    """Killed with SIGKILL and started again: the re-adopted container keeps its cgroup, and
    a restart of it (a new cgroup) gets the updated limits from HostConfig."""
    d = own_daemon
    cid = _run(d, "sleep", "1d")
    assert _update(d, cid, {"Memory": 72 * MiB, "MemorySwap": 144 * MiB, "PidsLimit": 33})[0] == 200
    pid = d.api("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
    d.stop(signal.SIGKILL)
    d.start()
    _, info = d.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Status"] == "running" and info["State"]["Pid"] == pid
    assert (info["HostConfig"]["Memory"], info["HostConfig"]["PidsLimit"]) == (72 * MiB, 33)
    assert limits(d, cid)["memory"] == 72 * MiB
    assert d.api("POST", f"/containers/{cid}/restart?t=0")[0] == 204
    now = limits(d, cid)
    assert (now["memory"], now["memsw"], now["pids"]) == (72 * MiB, 144 * MiB, "33")
    assert Path(f"/proc/{pid}").exists() is False
    d.api("DELETE", f"/containers/{cid}?force=1")
