"""`run` options through the official docker CLI and through `dockyard`, checked from inside the
container on the real kernel (E4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.cli import docker
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def run(d: Daemon, *args: str) -> str:
    r = docker(d, "run", "--rm", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def host_cap_bounding() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapBnd")


def caps(d: Daemon, *flags: str) -> int:
    out = run(d, *flags, "busybox", "grep", "CapEff", "/proc/self/status")
    return int(out.split()[1], 16)


def test_env_workdir_user_entrypoint_hostname(daemon: Daemon, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=yes\n# comment\n")
    out = run(daemon, "-e", "A=1", "--env-file", str(env_file), "-w", "/tmp", "-u", "65534:65534",
              "--hostname", "boat", "busybox", "sh", "-c", 'echo $A $FROM_FILE $(pwd) $(id -u):$(id -g) $(hostname)')  # fmt: skip
    assert out == "1 yes /tmp 65534:65534 boat\n"
    assert run(daemon, "--entrypoint", "echo", "busybox", "via", "entrypoint") == "via entrypoint\n"
    r = docker(daemon, "run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert r.returncode != 0 and "nosuchuser" in r.stderr


def test_capabilities(daemon: Daemon) -> None:
    default = caps(daemon)
    assert default == 0xA80425FB  # Docker's 14 default capabilities
    assert caps(daemon, "--cap-drop", "ALL") == 0
    assert caps(daemon, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN") == 1 << 12
    assert caps(daemon, "--cap-add", "SYS_ADMIN") == default | (1 << 21)
    # --privileged grants what the host's bounding set holds (no CAP_SYS_RESOURCE here).
    assert caps(daemon, "--privileged") == host_cap_bounding()


def test_read_only_rootfs(daemon: Daemon) -> None:
    r = docker(daemon, "run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.returncode == 1 and "Read-only file system" in r.stderr


def test_memory_and_cpus_reach_cgroups(daemon: Daemon) -> None:
    out = run(daemon, "-m", "64m", "--cpus", "0.5", "busybox", "sh", "-c",
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
              "/sys/fs/cgroup/cpu/cpu.cfs_period_us")  # fmt: skip
    assert out.split() == [str(64 * 1024 * 1024), "50000", "100000"]


def test_exec_options(daemon: Daemon) -> None:
    r = docker(daemon, "run", "-d", "--name", "opt-exec", "-e", "BASE=b", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    try:
        r = docker(daemon, "exec", "-e", "X=2", "-w", "/etc", "-u", "65534", "opt-exec", "sh", "-c",
                   "echo $BASE $X $(pwd) $(id -u)")  # fmt: skip
        assert r.stdout == "b 2 /etc 65534\n", r.stderr
        r = docker(daemon, "exec", "-i", "opt-exec", "cat")
        assert r.returncode == 0
        assert docker(daemon, "exec", "opt-exec", "/nope").returncode == 126  # as dockerd 20.10
    finally:
        docker(daemon, "rm", "-f", "opt-exec")


def test_dockyard_cli_run(daemon: Daemon) -> None:
    """E2: the dockyard CLI runs the same things with the same exit codes."""
    r = daemon.dockyard("run", "--rm", "-e", "A=x", "busybox", "sh", "-c", "echo $A; exit 5")
    assert r.stdout == "x\n" and r.returncode == 5
    r = daemon.dockyard("run", "--rm", "busybox", "/nope")
    assert r.returncode == 127


def test_umask_is_dockers(daemon: Daemon) -> None:
    """Processes start with umask 0022 as in Docker, for run and exec."""
    assert run(daemon, "busybox", "sh", "-c", "umask") == "0022\n"
    docker(daemon, "run", "-d", "--name", "opt-umask", "busybox", "sleep", "60")
    try:
        assert docker(daemon, "exec", "opt-umask", "sh", "-c", "umask").stdout == "0022\n"
    finally:
        docker(daemon, "rm", "-f", "opt-umask")
