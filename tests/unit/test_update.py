"""#15 (E4): `docker update` without a kernel: what runc is asked for, dockerd 20.10's checks and
merge rules, the host facts read from fake v1 and v2 cgroup trees, the CLI's request body; and
the lifecycle rules that need no container (Env without "=", restarts at daemon start)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.cli import update as cli_update
from dockyard.cli.command import CLIError
from dockyard.core.container import ContainerRecord
from dockyard.runtime.cgroups import CgroupFeatures, CgroupHost
from dockyard.runtime.resources import parse_list, update_resources
from dockyard.runtime.spec import container_env
from dockyard.services.containers import limits, record
from dockyard.services.containers.supervision import restarts_at_daemon_start
from dockyard.services.containers.update import merge

HOST = CgroupFeatures(blkio_weight=True, kernel_memory=True, cpus="0-3", mems="0")


def test_runc_gets_the_requests_values_and_zero_for_the_rest() -> None:
    """As dockerd's toContainerdResources: NanoCpus become period/quota, swap only when > 0,
    a pids limit of 0 (unlimited) becomes runc's -1; zeros (runc: unchanged) elsewhere."""
    out = update_resources({"NanoCpus": 1_500_000_000, "Memory": 64 << 20, "MemorySwap": -1,
                            "PidsLimit": 0, "CpusetCpus": "1"})  # fmt: skip
    assert out["cpu"] == {"shares": 0, "cpus": "1", "mems": "", "period": 100_000, "quota": 150_000}
    assert out["memory"] == {"limit": 64 << 20, "reservation": 0, "kernel": 0}
    assert out["pids"] == {"limit": -1} and out["blockIO"] == {"weight": 0}
    out = update_resources({"CpuQuota": 20_000, "CpuPeriod": 50_000, "MemorySwap": 128 << 20,
                            "PidsLimit": 7, "BlkioWeight": 300})  # fmt: skip
    assert (out["cpu"]["period"], out["cpu"]["quota"]) == (50_000, 20_000)
    assert out["memory"]["swap"] == 128 << 20 and out["pids"] == {"limit": 7}
    assert out["blockIO"] == {"weight": 300}
    assert "pids" not in update_resources({})


@pytest.mark.parametrize(
    ("res", "message"),
    [
        ({"Memory": 1000}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 100 << 20, "MemorySwap": 50 << 20},
         "Minimum memoryswap limit should be larger than memory limit, see usage"),
        ({"MemoryReservation": 1000}, "Minimum memory reservation allowed is 6MB"),
        ({"Memory": 10 << 20, "MemoryReservation": 20 << 20},
         "Minimum memory limit can not be less than memory reservation limit, see usage"),
        ({"KernelMemory": 1000}, "Minimum kernel memory limit allowed is 6MB"),
        ({"NanoCpus": 10**9, "CpuPeriod": 10_000},
         "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        ({"CpuPeriod": 500},
         "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        ({"CpuQuota": 500}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({"CpusetCpus": "7"}, "Requested CPUs are not available - requested 7, available: 0-3"),
        ({"CpusetCpus": "abc"}, "Invalid value abc for cpuset cpus: invalid format: abc"),
        ({"CpusetMems": "1"},
         "Requested memory nodes are not available - requested 1, available: 0"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ],
)  # fmt: skip
def test_refusals_in_dockerds_words(res: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidParameter) as exc:
        limits.check(dict(res), HOST, update=True)
    assert exc.value.message == message


def test_swap_without_memory_is_refused_at_create_only() -> None:
    with pytest.raises(errors.InvalidParameter, match="always set the Memory limit"):
        limits.check({"MemorySwap": 100 << 20}, None, update=False)
    assert limits.check({"MemorySwap": 100 << 20}, HOST, update=True) == []


def test_what_the_host_cannot_apply_is_dropped_with_dockerds_warning() -> None:
    bare = CgroupFeatures(blkio_weight=False, kernel_memory=False, cpus="0", mems="0")
    res = {"BlkioWeight": 300, "KernelMemory": 50 << 20}
    warnings = limits.check(res, bare, update=True)
    assert warnings == [
        "Specifying a kernel memory limit is deprecated and will be removed in a future release.",
        "Your kernel does not support kernel memory limit capabilities or the cgroup is not "
        "mounted. Limitation discarded.",
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
        "Weight discarded.",
    ]
    assert res == {"BlkioWeight": 0, "KernelMemory": 0}
    kept = {"KernelMemory": 50 << 20}
    assert len(limits.check(kept, HOST, update=True)) == 1 and kept["KernelMemory"] == 50 << 20


def test_wrong_json_types_are_refused_as_gos_decoder() -> None:
    with pytest.raises(errors.InvalidParameter, match=r"UpdateConfig\.Memory of type int64"):
        limits.check_types({"Memory": "x"}, "UpdateConfig")
    with pytest.raises(errors.InvalidParameter, match=r"UpdateConfig\.CpusetCpus of type string"):
        limits.check_types({"CpusetCpus": 1}, "UpdateConfig")


def _hc(**kw: Any) -> dict[str, Any]:
    return record.host_config(kw)


def test_merge_takes_what_is_set_and_refuses_dockerds_conflicts() -> None:
    hc = _hc(Memory=64 << 20)
    assert hc["MemorySwap"] == 128 << 20
    merge(hc, {"Memory": 100 << 20, "CpuShares": 512, "PidsLimit": 0, "CpusetCpus": "1"}, {})
    assert (hc["Memory"], hc["CpuShares"], hc["PidsLimit"], hc["CpusetCpus"]) == (
        100 << 20, 512, 0, "1")  # fmt: skip
    merge(hc, {"Memory": 0, "CpuShares": 0}, {"Name": "on-failure", "MaximumRetryCount": 3})
    assert hc["Memory"] == 100 << 20 and hc["CpuShares"] == 512
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    with pytest.raises(errors.Conflict, match="^Memory limit should be smaller than already set"):
        merge(hc, {"Memory": 200 << 20}, {})
    merge(hc, {"Memory": 200 << 20, "MemorySwap": -1}, {})
    assert (hc["Memory"], hc["MemorySwap"]) == (200 << 20, -1)
    nano = _hc(NanoCpus=10**9)
    with pytest.raises(errors.Conflict, match="CPU Quota cannot be updated as NanoCPUs has"):
        merge(nano, {"CpuQuota": 50_000}, {})
    with pytest.raises(errors.Conflict, match="Nano CPUs cannot be updated as CPU Period has"):
        merge(_hc(CpuPeriod=50_000), {"NanoCpus": 10**9}, {})
    auto = _hc(AutoRemove=True)
    with pytest.raises(errors.Conflict, match="because AutoRemove is enabled for the container"):
        merge(auto, {}, {"Name": "always"})
    merge(auto, {}, {"Name": "no"})


def test_restart_policy_words_are_dockerd_20_10s() -> None:
    with pytest.raises(errors.InvalidParameter, match="^invalid restart policy 'bogus'$"):
        record.check_restart_policy({"Name": "bogus"})
    with pytest.raises(
        errors.InvalidParameter,
        match="^maximum retry count cannot be used with restart policy 'always'$",
    ):
        record.check_restart_policy({"Name": "always", "MaximumRetryCount": 2})
    with pytest.raises(errors.InvalidParameter, match="^maximum retry count cannot be negative$"):
        record.check_restart_policy({"Name": "on-failure", "MaximumRetryCount": -1})
    record.check_restart_policy({"Name": "", "MaximumRetryCount": 0})


def test_features_on_a_v1_tree(tmp_path: Path) -> None:
    for d in ("memory", "cpuset", "blkio", "pids"):
        (tmp_path / d).mkdir()
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-7\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0-1\n")
    (tmp_path / "memory" / "memory.kmem.limit_in_bytes").write_text("0\n")
    host = CgroupHost.detect(["native.cgroupdriver=cgroupfs"], "", tmp_path)
    assert host.features == CgroupFeatures(False, True, "0-7", "0-1")
    (tmp_path / "blkio" / "blkio.weight").write_text("500\n")
    assert CgroupHost.detect([], "", tmp_path).features.blkio_weight


def test_features_on_a_v2_tree(tmp_path: Path) -> None:
    """v2: io in the root's controllers, the effective cpuset files, never kernel memory."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cpuset.cpus.effective").write_text("0-3\n")
    (tmp_path / "cpuset.mems.effective").write_text("0\n")
    (tmp_path / "memory.kmem.limit_in_bytes").write_text("0\n")  # not a v2 file: ignored
    host = CgroupHost.detect(["native.cgroupdriver=cgroupfs"], "", tmp_path)
    assert host.version == 2
    assert host.features == CgroupFeatures(True, False, "0-3", "0")
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert not CgroupHost.detect([], "", tmp_path).features.blkio_weight


def test_cpuset_lists() -> None:
    assert parse_list("0-2,5") == {0, 1, 2, 5} and parse_list("") == set()
    for bad in ("a", "1-", "3-1", "1,,2"):
        with pytest.raises(ValueError, match="invalid format"):
            parse_list(bad)


def _ns(**kw: Any) -> argparse.Namespace:
    base = {dest: None for dest in (*cli_update._FIELDS, "restart", "pids_limit")}
    return argparse.Namespace(**{**base, **kw, "containers": ["c"]})


def test_cli_body_is_what_docker_cli_sends() -> None:
    body = cli_update.body(_ns(memory=64 << 20, restart="on-failure:3", pids_limit=-1))
    assert body["Memory"] == 64 << 20 and body["CpuShares"] == 0 and body["CpusetCpus"] == ""
    assert body["PidsLimit"] == -1
    assert body["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert cli_update.body(_ns(cpus=10**9))["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}
    assert "PidsLimit" not in cli_update.body(_ns(cpus=10**9))
    with pytest.raises(CLIError, match="^you must provide one or more flags"):
        cli_update.body(_ns())


def test_env_without_equals_is_kept_and_not_set() -> None:
    """dockerd: `-e FOO` (unset in the client) stays "FOO" in Config.Env, replacing an image
    value in place, and the process gets no FOO (nor a default of that name)."""
    env = record.merge_env(["PATH=/bin", "FOO=img"], ["FOO", "BAR=1", "HOSTNAME"])
    assert env == ["PATH=/bin", "FOO", "BAR=1", "HOSTNAME"]
    proc = container_env({"Hostname": "h", "Env": env})
    assert proc == ["PATH=/bin", "BAR=1"]


def _rec(policy: str, most: int = 0, *, code: int = 0, stopped: bool = False,
         count: int = 0, started: bool = True) -> ContainerRecord:  # fmt: skip
    hc = record.host_config({"RestartPolicy": {"Name": policy, "MaximumRetryCount": most}})
    st = {"Status": "exited", "ExitCode": code,
          "StartedAt": "2026-01-01T00:00:00Z" if started else "0001-01-01T00:00:00Z"}  # fmt: skip
    rec = ContainerRecord(
        "c" * 64, "c", "2026-01-01T00:00:00Z", "img", {"State": st, "HostConfig": hc}
    )
    rec.run.manually_stopped, rec.run.restart_count = stopped, count
    return rec


def test_restarts_at_daemon_start_follow_dockerds_restart_manager() -> None:
    """Checked against dockerd 20.10 killed with SIGKILL and started again."""
    assert restarts_at_daemon_start(_rec("always", stopped=True, code=137))
    assert restarts_at_daemon_start(_rec("unless-stopped", code=0))
    assert not restarts_at_daemon_start(_rec("unless-stopped", stopped=True, code=137))
    assert restarts_at_daemon_start(_rec("on-failure", 5, code=137, stopped=True))
    assert not restarts_at_daemon_start(_rec("on-failure", 2, code=2, count=2))
    assert not restarts_at_daemon_start(_rec("on-failure", code=0))
    assert not restarts_at_daemon_start(_rec("no", code=1))
    assert not restarts_at_daemon_start(_rec("always", started=False))
