"""#12: the cgroup host model (runtime/cgroups.py): dockerd's driver defaults, slice paths, where a
container's cgroup lives on a v1 (hybrid) and a v2 (unified) tree, and the cgroupns default."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.runtime.cgroups import CgroupHost, driver_from_exec_opts, slice_path
from dockyard.services.containers import record


def test_driver_defaults_follow_dockerd() -> None:
    """systemd only on a v2 host that runs systemd; an explicit option wins; others ignored."""
    assert driver_from_exec_opts([], v2=True, systemd=True) == "systemd"
    assert driver_from_exec_opts([], v2=True, systemd=False) == "cgroupfs"
    assert driver_from_exec_opts([], v2=False, systemd=True) == "cgroupfs"
    assert driver_from_exec_opts(["native.cgroupdriver=cgroupfs"], True, True) == "cgroupfs"
    assert driver_from_exec_opts(["Native.CgroupDriver = systemd"], False, False) == "systemd"
    assert driver_from_exec_opts(["native.umask=normal", "junk"], False, False) == "cgroupfs"
    with pytest.raises(
        errors.InvalidParameter, match="^native.cgroupdriver option foo not supported$"
    ):
        driver_from_exec_opts(["native.cgroupdriver=foo"], False, False)


def test_slice_paths_nest_at_dashes() -> None:
    assert slice_path("system.slice") == "system.slice"
    assert slice_path("a-b-c.slice") == "a.slice/a-b.slice/a-b-c.slice"
    assert slice_path("-.slice") == ""


def _v1(tmp_path: Path) -> Path:
    for h in ("memory", "pids", "cpu,cpuacct", "unified"):
        (tmp_path / h).mkdir()
    return tmp_path


def test_cgroupfs_on_v1_every_hierarchy(tmp_path: Path) -> None:
    root = _v1(tmp_path)
    host = CgroupHost.detect(["native.cgroupdriver=cgroupfs"], "", root)
    assert (host.version, host.driver, host.parent) == (1, "cgroupfs", "dockyard")
    assert host.cgroups_path("c1") == "/dockyard/c1"
    assert host.container_dirs("c1") == [root / h / "dockyard/c1"
                                         for h in ("cpu,cpuacct", "memory", "pids", "unified")]  # fmt: skip
    assert host.memory_dir("c1") == root / "memory/dockyard/c1"
    assert host.default_cgroupns == "host"
    (root / "pids/dockyard/c1").mkdir(parents=True)
    host.remove("c1")
    assert not (root / "pids/dockyard/c1").exists() and (root / "pids/dockyard").exists()


def test_systemd_on_v2_a_scope_in_a_slice(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    host = CgroupHost.detect(["native.cgroupdriver=systemd"], "", tmp_path)
    assert (host.version, host.driver, host.parent) == (2, "systemd", "system.slice")
    assert host.cgroups_path("c1") == "system.slice:dockyard:c1"
    assert host.container_dirs("c1") == [tmp_path / "system.slice/dockyard-c1.scope"]
    assert host.memory_dir("c1") == tmp_path / "system.slice/dockyard-c1.scope"
    assert host.default_cgroupns == "private"
    nested = CgroupHost.detect(["native.cgroupdriver=systemd"], "my-test.slice", tmp_path)
    assert nested.parent_dirs() == [tmp_path / "my.slice/my-test.slice"]


def test_systemd_parent_must_be_a_slice(tmp_path: Path) -> None:
    with pytest.raises(
        errors.InvalidParameter, match='should be a valid slice named as "xxx.slice"'
    ):
        CgroupHost.detect(["native.cgroupdriver=systemd"], "dockyard", tmp_path)


def test_cgroupns_mode_default_and_validation() -> None:
    """An empty mode takes the daemon's default; anything but private/host is dockerd's 400."""
    assert record.host_config({}, "private")["CgroupnsMode"] == "private"
    assert record.host_config({"CgroupnsMode": ""}, "host")["CgroupnsMode"] == "host"
    assert record.host_config({"CgroupnsMode": "host"}, "private")["CgroupnsMode"] == "host"
    with pytest.raises(errors.InvalidParameter, match="^invalid cgroup namespace mode: bogus$"):
        record.host_config({"CgroupnsMode": "bogus"})


def test_frozen_reads_the_freezer_as_runc_does(tmp_path: Path) -> None:
    """R1: the daemon's restart compares this with the record (a pause or commit cut short)."""
    (tmp_path / "v1").mkdir()
    v1 = CgroupHost.detect(["native.cgroupdriver=cgroupfs"], "", _v1(tmp_path / "v1"))
    assert not v1.frozen("c1")  # no cgroup at all
    freezer = tmp_path / "v1/freezer/dockyard/c1"
    freezer.mkdir(parents=True)
    for state, frozen in (("FROZEN\n", True), ("FREEZING\n", True), ("THAWED\n", False)):
        (freezer / "freezer.state").write_text(state)
        assert v1.frozen("c1") is frozen
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2/cgroup.controllers").write_text("cpu memory pids\n")
    v2 = CgroupHost.detect(["native.cgroupdriver=systemd"], "", tmp_path / "v2")
    scope = tmp_path / "v2/system.slice/dockyard-c1.scope"
    scope.mkdir(parents=True)
    for value, frozen in (("1\n", True), ("0\n", False)):
        (scope / "cgroup.freeze").write_text(value)
        assert v2.frozen("c1") is frozen
