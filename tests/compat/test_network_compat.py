"""User-defined networks through the official docker CLI and docker-py (N5)."""

from __future__ import annotations

import random

import docker as dockerpy
import pytest

from tests.compat.cli import docker
from tests.conftest import Daemon
from tests.integration.network_helpers import http_get, rm
from tests.integration.test_network_user import net_rm

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def _subnet() -> tuple[str, str]:
    x, y = random.randint(100, 250), random.randint(0, 255)
    return f"10.{x}.{y}.0/24", f"10.{x}.{y}"


def test_docker_cli_network_walkthrough(daemon: Daemon) -> None:
    """N5: docker network create/ls/inspect/connect/disconnect/rm, run --ip/--network-alias,
    name resolution, published ports on a user network."""
    name = f"cli{random.randint(0, 1 << 30)}"
    for _ in range(10):
        subnet, prefix = _subnet()
        r = docker(daemon, "network", "create", "--subnet", subnet, "--label", "k=v", name)
        if r.returncode == 0:
            break
    assert r.returncode == 0, r.stderr
    cs: list[str] = []
    try:
        r = docker(daemon, "network", "create", name)
        assert r.returncode != 0 and f"network with name {name} already exists" in r.stderr
        r = docker(daemon, "network", "ls", "--filter", "label=k=v", "--format", "{{.Name}}")
        assert name in r.stdout.split()
        r = docker(daemon, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", name)
        assert r.stdout.strip() == subnet
        r = docker(daemon, "run", "-d", "--name", f"{name}-w", "--network", name, "--ip",
                   f"{prefix}.9", "--network-alias", "web", "-p", "127.0.0.1::80", "busybox",
                   "sh", "-c", "echo hi > /index.html; exec httpd -f -p 80 -h /")  # fmt: skip
        assert r.returncode == 0, r.stderr
        cs.append(r.stdout.strip())
        port = docker(daemon, "port", f"{name}-w", "80").stdout.strip().rsplit(":", 1)[1]
        assert http_get("127.0.0.1", int(port)) == "hi"
        r = docker(daemon, "run", "-d", "busybox", "sleep", "300")
        cs.append(r.stdout.strip())
        assert docker(daemon, "network", "connect", "--alias", "cli", name, cs[1]).returncode == 0
        r = docker(daemon, "exec", cs[1], "wget", "-qO-", "http://web/")
        assert r.stdout.strip() == "hi", r.stderr
        r = docker(daemon, "network", "inspect", "-f", "{{len .Containers}}", name)
        assert r.stdout.strip() == "2"
        assert docker(daemon, "network", "disconnect", name, cs[1]).returncode == 0
        r = docker(daemon, "network", "rm", name)
        assert r.returncode != 0 and "has active endpoints" in r.stderr
    finally:
        rm(daemon, *cs)
        r = docker(daemon, "network", "rm", name)
        assert r.returncode == 0, r.stderr


def test_docker_py_networks(daemon: Daemon) -> None:
    """N5: client.networks.create/get/list/connect/disconnect/remove/prune."""
    client = dockerpy.DockerClient(base_url=daemon.host)
    name = f"py{random.randint(0, 1 << 30)}"
    net = client.networks.create(name, driver="bridge", labels={"py": "1"})
    c = None
    try:
        assert client.networks.get(name).id == net.id
        assert [n.name for n in client.networks.list(names=[name])] == [name]
        c = client.containers.run("busybox", ["sleep", "300"], detach=True)
        net.connect(c, aliases=["pyalias"])
        net.reload()
        assert [x.id for x in net.containers] == [c.id]
        c.reload()
        assert c.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
        net.disconnect(c)
        net.reload()
        assert net.containers == []
        report = client.networks.prune(filters={"label": "py=1"})
        assert report["NetworksDeleted"] == [name]
    finally:
        if c is not None:
            c.remove(force=True)
        net_rm(daemon, name)
        client.close()
