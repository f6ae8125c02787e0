"""#12 on the real kernel: cgroups as dockerd has them on this host's hierarchy (v1 hybrid here,
v2 in scripts/vm-check): `info` tells the version and driver, `--cgroupns private` gives the
container its own cgroup as `/` with its limits in /sys/fs/cgroup, `host` shows the host's path,
the default is dockerd's (private on v2, host on v1), and a bad mode is a 400 that makes nothing."""

from __future__ import annotations

import pytest

from dockyard.runtime.cgroups import CgroupHost
from tests.compat.cli import docker, ok
from tests.conftest import Daemon

pytestmark = pytest.mark.integration

HOST = CgroupHost.detect([])
# The memory limit as the container reads it from its own cgroup: v2 memory.max, v1 the memory
# controller's limit_in_bytes (mounted as the container's root with a private cgroupns).
READ_LIMIT = (
    "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
)


def _run(d: Daemon, *args: str) -> str:
    r = d.dockyard("run", "--rm", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_info_tells_the_cgroup_version_and_driver(daemon: Daemon) -> None:
    status, info = daemon.api("GET", "/info")
    assert status == 200
    assert (info["CgroupVersion"], info["CgroupDriver"]) == (
        str(HOST.version),
        daemon.cgroup_driver,
    )
    text = daemon.dockyard("info").stdout
    assert f" Cgroup Driver: {daemon.cgroup_driver}\n" in text
    assert f" Cgroup Version: {HOST.version}\n" in text


def test_private_cgroupns_sees_its_own_cgroup_and_limits(daemon: Daemon) -> None:
    out = _run(daemon, "--cgroupns", "private", "-m", "64m", "busybox", "sh", "-c",
               f"cat /proc/self/cgroup; echo limit; {READ_LIMIT}")  # fmt: skip
    cgroups, limit = out.split("limit\n")
    paths = [line.split(":", 2)[2] for line in cgroups.splitlines()]
    assert paths and all(p == "/" for p in paths), cgroups
    assert limit.strip() == str(64 * 1024 * 1024)


def test_host_cgroupns_sees_the_host_path(daemon: Daemon) -> None:
    cid = daemon.dockyard("create", "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
    assert cid.returncode == 0, cid.stderr
    name = cid.stdout.strip()
    try:
        r = daemon.dockyard("start", "-a", name)
        assert r.returncode == 0, r.stderr
        assert name in r.stdout  # the host's path names the container's cgroup
        want = "host"
        assert (
            daemon.api("GET", f"/containers/{name}/json")[1]["HostConfig"]["CgroupnsMode"] == want
        )
    finally:
        daemon.dockyard("rm", "-f", name)


def test_default_cgroupns_is_dockerds(daemon: Daemon) -> None:
    r = daemon.dockyard("create", "busybox", "true")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        hc = daemon.api("GET", f"/containers/{cid}/json")[1]["HostConfig"]
        assert hc["CgroupnsMode"] == ("private" if HOST.version == 2 else "host")
    finally:
        daemon.dockyard("rm", "-f", cid)


def test_bad_cgroupns_mode_is_a_400_and_makes_nothing(daemon: Daemon) -> None:
    before = daemon.api("GET", "/containers/json?all=1")[1]
    status, body = daemon.api("POST", "/containers/create?name=badns",
                              {"Image": "busybox", "HostConfig": {"CgroupnsMode": "bogus"}})  # fmt: skip
    assert (status, body["message"]) == (400, "invalid cgroup namespace mode: bogus")
    assert daemon.api("GET", "/containers/json?all=1")[1] == before


@pytest.mark.compat  # drives the docker CLI: run with each CLI (scripts/test)
def test_docker_cli_cgroupns(daemon: Daemon) -> None:
    out = ok(docker(daemon, "run", "--rm", "--cgroupns", "private", "busybox", "cat",
                    "/proc/self/cgroup"))  # fmt: skip
    assert all(line.endswith(":/") for line in out.splitlines()), out
    for cli in (docker, lambda d, *a: d.dockyard(*a)):  # both clients refuse it themselves
        r = cli(daemon, "run", "--rm", "--cgroupns", "bogus", "busybox", "true")
        assert r.returncode == 125 and "--cgroupns: invalid CGROUP mode" in r.stderr
