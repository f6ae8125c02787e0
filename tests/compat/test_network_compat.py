"""Networking through the official docker CLI and docker-py (N1-N4, N6)."""

from __future__ import annotations

import shutil
import subprocess

import docker as dockerpy
import pytest

from tests.conftest import Daemon
from tests.integration.network_helpers import HTTPD, free_port, http_get

pytestmark = [pytest.mark.compat, pytest.mark.integration]

DOCKER = shutil.which("docker")


def docker(d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    if DOCKER is None:
        pytest.skip("no docker CLI installed")
    return subprocess.run([DOCKER, *args], env=d.env(), capture_output=True, text=True, timeout=60)


def test_docker_cli_network_ls_inspect_port(daemon: Daemon) -> None:
    """N1/N3: docker network ls/inspect, docker port, ps PORTS, -p with an explicit host IP."""
    r = docker(daemon, "network", "ls", "--format", "{{.Name}}/{{.Driver}}")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == ["bridge/bridge", "host/host", "none/null"]
    r = docker(
        daemon,
        "network",
        "inspect",
        "-f",
        '{{index .Options "com.docker.network.bridge.name"}}',
        "bridge",
    )
    assert r.stdout.strip() == daemon.bridge
    port = free_port()
    r = docker(
        daemon,
        "run",
        "-d",
        "--name",
        "compat-net-web",
        "-p",
        f"127.0.0.1:{port}:80",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    )
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        assert (
            docker(daemon, "port", "compat-net-web").stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
        )
        assert (
            docker(daemon, "port", "compat-net-web", "80/tcp").stdout.strip() == f"127.0.0.1:{port}"
        )
        ps = docker(daemon, "ps", "--filter", "name=compat-net-web", "--format", "{{.Ports}}")
        assert ps.stdout.strip() == f"127.0.0.1:{port}->80/tcp"
        assert http_get("127.0.0.1", port) == f"hello-{cid[:12]}"
        ip = docker(
            daemon, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", cid
        ).stdout.strip()
        r = docker(daemon, "run", "--rm", "--link", "compat-net-web:web", "busybox", "sh", "-c",
                   "grep -w web /etc/hosts; echo $WEB_PORT_80_TCP_ADDR")  # fmt: skip
        assert r.stdout.split("\n")[0].startswith(f"{ip}\tweb ") and r.stdout.split("\n")[1] == ip
        r = docker(daemon, "run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
        assert r.returncode == 125
        assert "port is already allocated" in r.stderr
    finally:
        docker(daemon, "rm", "-f", cid)


def test_docker_cli_bad_publish_specs(daemon: Daemon) -> None:
    """N1/N4: malformed -p and unknown modes fail like Docker (exit 125), nothing is created."""
    before = docker(daemon, "ps", "-aq").stdout
    for args, text in [
        (["-p", "99999:80"], "99999"),
        (["-p", "1-5:1-3"], "invalid ranges"),
        (["--network", "nosuch"], "network nosuch not found"),
        (["--network", "container:nosuch"], "No such container: nosuch"),
        (["--link", "nosuch:db"], "could not get container for nosuch"),
        (["--network", "none", "-p", "80"], None),
    ]:
        r = docker(daemon, "run", "--rm", *args, "busybox", "true")
        if text is None:
            continue
        assert r.returncode == 125, (args, r.stderr)
        assert text in r.stderr
    assert docker(daemon, "ps", "-aq").stdout == before


def test_docker_py_ports_and_modes(daemon: Daemon) -> None:
    """N1/N4/N6: docker-py's ports= dict, network_mode, extra_hosts, dns; attrs match Docker."""
    client = dockerpy.DockerClient(base_url=daemon.host)
    port = free_port()
    c = client.containers.run(
        "busybox", ["sh", "-c", HTTPD], detach=True, ports={"80/tcp": ("127.0.0.1", port)}
    )
    try:
        c.reload()
        assert c.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert c.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert http_get("127.0.0.1", port) == f"hello-{c.id[:12]}"
        out = client.containers.run(
            "busybox", ["ip", "-o", "link"], network_mode="none", remove=True
        )
        assert out.decode().count("\n") == 1
        out = client.containers.run("busybox", ["cat", "/etc/hosts", "/etc/resolv.conf"], remove=True,
                                    extra_hosts={"svc.example": "10.2.3.4"}, dns=["10.9.9.9"])  # fmt: skip
        assert "10.2.3.4\tsvc.example" in out.decode() and "nameserver 10.9.9.9" in out.decode()
        nets = {n.name for n in client.networks.list()}
        assert nets == {"bridge", "host", "none"}
        assert client.networks.get("bridge").attrs["Driver"] == "bridge"
    finally:
        c.remove(force=True)
        client.close()
