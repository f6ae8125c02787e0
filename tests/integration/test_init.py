"""`--init` (E6): Debian's static tini bind-mounted read-only at /sbin/docker-init runs as the
container's PID 1 (`docker-init -- CMD`, as dockerd), forwards signals, reaps orphans and passes
the exit code through (the daemon's `--init`: tests/integration/test_daemon_defaults.py).
Through the docker CLI and docker-py, on the real kernel."""

from __future__ import annotations

import time

import pytest

from tests.compat.cli import docker, ok
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

LOOP = "while true; do sleep 1; done"  # PID 1 with no handler: SIGTERM would be ignored
# Three orphans that exit at once; PID 1 is then `sleep`, which never reaps (without an init)
ORPHANS = 'for i in 1 2 3; do sh -c "sleep 0.1 &"; done; exec sleep 60'


def _pid1(out: str) -> str:
    """busybox ps: the COMMAND of PID 1."""
    for line in out.splitlines()[1:]:
        fields = line.split(None, 2)
        if fields[0] == "1":
            return fields[2]
    raise AssertionError(out)


def _zombies(d: Daemon, cid: str) -> int:
    stats = ok(docker(d, "exec", cid, "sh", "-c", "cat /proc/[0-9]*/stat"))
    return sum(1 for line in stats.splitlines() if line.rsplit(")", 1)[1].split()[0] == "Z")


def test_init_is_pid_1_and_passes_the_exit_code(daemon: Daemon) -> None:
    """E6: `ps` inside shows docker-init as PID 1 running the command; the command's exit code
    is the container's; inspect keeps the command as Path/Args and HostConfig.Init true."""
    out = ok(docker(daemon, "run", "--rm", "--init", "busybox", "ps"))
    assert _pid1(out) == "/sbin/docker-init -- ps"
    assert _pid1(ok(docker(daemon, "run", "--rm", "busybox", "ps"))) == "ps"
    assert docker(daemon, "run", "--rm", "--init", "busybox", "sh", "-c", "exit 5").returncode == 5
    cid = ok(docker(daemon, "run", "-d", "--init", "busybox", "sleep", "30")).strip()
    try:
        top = ok(docker(daemon, "top", cid))
        cmds = [line.split(None, 7)[7] for line in top.splitlines()[1:]]
        assert cmds == ["/sbin/docker-init -- sleep 30", "sleep 30"]
        fmt = "{{.Path}} {{json .Args}} {{json .HostConfig.Init}}"
        assert ok(docker(daemon, "inspect", "-f", fmt, cid)) == 'sleep ["30"] true\n'
        # read-only: the container cannot replace its init
        r = docker(daemon, "exec", cid, "sh", "-c", "echo x > /sbin/docker-init")
        assert r.returncode != 0 and "Read-only file system" in r.stderr
    finally:
        docker(daemon, "rm", "-f", cid)
    fmt = "{{json .HostConfig.Init}}"
    cid = ok(docker(daemon, "create", "busybox", "true")).strip()
    assert ok(docker(daemon, "inspect", "-f", fmt, cid)) == "null\n"
    docker(daemon, "rm", cid)


def test_init_forwards_sigterm_to_a_shell_that_would_ignore_it(daemon: Daemon) -> None:
    """E6: a shell as PID 1 ignores SIGTERM (no handler), so stop waits and kills (137); under
    docker-init the shell is not PID 1 and SIGTERM ends it at once (143)."""
    plain = ok(docker(daemon, "run", "-d", "busybox", "sh", "-c", LOOP)).strip()
    inited = ok(docker(daemon, "run", "-d", "--init", "busybox", "sh", "-c", LOOP)).strip()
    try:
        started = time.monotonic()
        ok(docker(daemon, "stop", "-t", "20", inited))
        assert time.monotonic() - started < 10
        assert ok(docker(daemon, "inspect", "-f", "{{.State.ExitCode}}", inited)) == "143\n"
        started = time.monotonic()
        ok(docker(daemon, "stop", "-t", "1", plain))
        assert time.monotonic() - started >= 1
        assert ok(docker(daemon, "inspect", "-f", "{{.State.ExitCode}}", plain)) == "137\n"
    finally:
        docker(daemon, "rm", "-f", plain, inited)


def test_init_reaps_orphans(daemon: Daemon) -> None:
    """E6: orphans re-parented to PID 1 are reaped by docker-init; with `sleep` as PID 1 they
    stay zombies (the control that shows the check can fail)."""
    plain = ok(docker(daemon, "run", "-d", "busybox", "sh", "-c", ORPHANS)).strip()
    inited = ok(docker(daemon, "run", "-d", "--init", "busybox", "sh", "-c", ORPHANS)).strip()
    try:
        deadline = time.monotonic() + 10
        while _zombies(daemon, plain) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _zombies(daemon, plain) == 3
        assert _zombies(daemon, inited) == 0
    finally:
        docker(daemon, "rm", "-f", plain, inited)


def test_init_from_docker_py(daemon: Daemon) -> None:
    """E6: docker-py's `init=True` is HostConfig.Init; the exit code comes through."""
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=daemon.host, version="auto")
    try:
        out = client.containers.run("busybox", ["ps"], init=True, remove=True)
        assert _pid1(out.decode()) == "/sbin/docker-init -- ps"
        c = client.containers.run("busybox", ["sh", "-c", "exit 3"], init=True, detach=True)
        try:
            assert c.wait()["StatusCode"] == 3
            c.reload()
            assert c.attrs["HostConfig"]["Init"] is True
        finally:
            c.remove(force=True)
    finally:
        client.close()
