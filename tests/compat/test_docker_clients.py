"""The official docker CLI and docker-py against dockyard's socket (E1, E4)."""

from __future__ import annotations

import pytest

from tests.compat.cli import docker
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def test_docker_cli_run_rm_echo(daemon: Daemon) -> None:
    r = docker(daemon, "run", "--rm", "busybox", "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"


def test_docker_cli_exit_codes(daemon: Daemon) -> None:
    assert docker(daemon, "run", "--rm", "busybox", "sh", "-c", "exit 7").returncode == 7
    r = docker(daemon, "run", "--rm", "busybox", "/no/such/binary")
    assert r.returncode == 127, r.stderr
    r = docker(daemon, "run", "--rm", "nosuchimage")
    assert r.returncode == 125
    assert "Unable to find image 'nosuchimage:latest' locally" in r.stderr


def test_docker_cli_stdin_and_stderr(daemon: Daemon) -> None:
    r = docker(
        daemon, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo e >&2", input="piped\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "piped\n" and r.stderr == "e\n"


def test_docker_cli_lifecycle(daemon: Daemon) -> None:
    r = docker(
        daemon, "run", "-d", "--name", "cli-life", "busybox", "sh", "-c", "echo started; sleep 60"
    )
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    ps = docker(daemon, "ps", "--format", "{{.Names}} {{.Status}}")
    assert "cli-life Up" in ps.stdout
    assert (
        docker(
            daemon, "inspect", "-f", "{{.State.Running}} {{.GraphDriver.Name}}", "cli-life"
        ).stdout
        == "true overlay2\n"
    )
    ex = docker(daemon, "exec", "cli-life", "sh", "-c", "echo in-exec; exit 4")
    assert ex.stdout == "in-exec\n" and ex.returncode == 4
    logs = docker(daemon, "logs", "cli-life")
    assert logs.stdout == "started\n"
    assert docker(daemon, "stop", "-t", "1", "cli-life").returncode == 0
    assert docker(daemon, "rm", "cli-life").stdout == "cli-life\n"
    r = docker(daemon, "rm", "cli-life")
    assert r.returncode == 1 and "No such container: cli-life" in r.stderr


def test_docker_py(daemon: Daemon) -> None:
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=daemon.host, version="auto")
    try:
        assert client.ping()
        out = client.containers.run("busybox", ["echo", "from docker-py"], remove=True)
        assert out == b"from docker-py\n"
        c = client.containers.run("busybox", ["sleep", "60"], detach=True, name="py-life")
        c.reload()
        assert c.status == "running"
        assert "py-life" in [x.name for x in client.containers.list()]
        c.remove(force=True)
        with pytest.raises(docker_mod.errors.NotFound):
            client.containers.get("py-life")
        with pytest.raises(docker_mod.errors.ImageNotFound):
            client.containers.create("nope-image:latest")
        img = client.images.get("busybox")
        assert "busybox:latest" in img.tags
    finally:
        client.close()
