"""What a daemon's own options give containers that do not choose (E6): `--init` with
`--init-path`, and `--log-driver` with `--log-opt`, merged into each container's LogConfig as
dockerd does (inspect shows the merged options). One private daemon with those flags."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.cli import docker, ok
from tests.conftest import Daemon, private_daemon
from tests.integration.test_init import _pid1

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.fixture(scope="module")
def defaults_daemon() -> Iterator[Daemon]:
    with private_daemon(
        "defaults",
        f"dyi{os.getpid()}",
        "--init",
        "--init-path",
        "/usr/bin/tini-static",
        "--log-driver",
        "local",
        "--log-opt",
        "max-file=2",
        "--log-opt",
        "compress=false",
    ) as d:
        yield d


def test_daemon_init_default_and_opting_out(defaults_daemon: Daemon) -> None:
    """E6: with the daemon's --init every container gets docker-init unless it says
    `--init=false` (HostConfig.Init false); inspect shows null for the one that did not choose."""
    d = defaults_daemon
    assert _pid1(ok(docker(d, "run", "--rm", "busybox", "ps"))) == "/sbin/docker-init -- ps"
    assert _pid1(ok(docker(d, "run", "--rm", "--init=false", "busybox", "ps"))) == "ps"
    cid = ok(docker(d, "create", "busybox", "true")).strip()
    assert ok(docker(d, "inspect", "-f", "{{json .HostConfig.Init}}", cid)) == "null\n"
    docker(d, "rm", cid)


def test_daemon_log_driver_default_is_merged(defaults_daemon: Daemon) -> None:
    """E6: no --log-driver: the daemon's `local` with its options (the container's own win);
    another driver keeps only its own options; logs read back from local-logs/."""
    d = defaults_daemon
    fmt = "{{json .HostConfig.LogConfig}} [{{.LogPath}}]"
    cid = ok(docker(d, "run", "-d", "--log-opt", "max-file=3", "busybox", "echo", "hello"))
    cid = cid.strip()
    try:
        ok(docker(d, "wait", cid))
        assert ok(docker(d, "inspect", "-f", fmt, cid)) == (
            '{"Type":"local","Config":{"compress":"false","max-file":"3"}} []\n'
        )
        assert ok(docker(d, "logs", cid)) == "hello\n"
        assert (d.data_root / "containers" / cid / "local-logs" / "container.log").is_file()
    finally:
        docker(d, "rm", "-f", cid)
    cid = ok(docker(d, "run", "-d", "--log-driver", "json-file", "busybox", "echo", "hi")).strip()
    try:
        ok(docker(d, "wait", cid))
        out = ok(docker(d, "inspect", "-f", fmt, cid))
        log_path = d.data_root / "containers" / cid / f"{cid}-json.log"
        assert out == f'{{"Type":"json-file","Config":{{}}}} [{log_path}]\n'
        assert Path(log_path).read_text().startswith('{"log":"hi\\n","stream":"stdout"')
    finally:
        docker(d, "rm", "-f", cid)


def test_the_daemon_raises_its_open_files_limit_as_dockerd() -> None:
    """R1 (#17): started from a shell's soft 1024, the daemon takes its hard limit, as dockerd
    (a Go program) does, and its containers inherit it: dockerd 20.10 started with 1024/20000
    gives containers 20000/20000 (measured). At 1024 the daemon stopped near 330 containers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        cm = private_daemon("nofile", f"dyn{os.getpid()}")
        d = cm.__enter__()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert d.proc is not None
        limits = Path(f"/proc/{d.proc.pid}/limits").read_text()
        (line,) = [x for x in limits.splitlines() if x.startswith("Max open files")]
        assert line.split()[3:5] == [str(hard), str(hard)], line
        r = d.dockyard("run", "--rm", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
        assert (r.returncode, r.stdout) == (0, f"{hard}\n{hard}\n"), r.stderr
    finally:
        cm.__exit__(None, None, None)
