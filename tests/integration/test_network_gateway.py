"""A container on several networks (N5), as dockerd 20.10 does it: the published ports and the
default route follow the gateway network (the non-internal one with the lowest name), across
connect, disconnect (of the network that carried them too) and restart; the default bridge can
be connected to and disconnected from like any network."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.integration.network_helpers import HTTPD, free_port, http_get, inspect, rm, run
from tests.integration.test_network_user import make_net, net_rm

pytestmark = pytest.mark.integration


@pytest.fixture
def nets(daemon: Daemon) -> Iterator[tuple[str, str]]:
    """Two networks named around `bridge`: a<tag> sorts before it, c<tag> after."""
    tag = random.randint(0, 1 << 30)
    a, c = f"a{tag}", f"c{tag}"
    make_net(daemon, a)
    make_net(daemon, c)
    yield a, c
    for name in (a, c):
        status, doc = daemon.api("GET", f"/networks/{name}")
        if status == 200:
            rm(daemon, *doc["Containers"])
    net_rm(daemon, a, c)


def gateway_of(d: Daemon, net: str) -> str:
    status, doc = d.api("GET", f"/networks/{net}")
    assert status == 200, doc
    return str(doc["IPAM"]["Config"][0]["Gateway"])


def default_route(d: Daemon, cid: str) -> str:
    p = d.dockyard("exec", cid, "ip", "route")
    return next((ln for ln in p.stdout.splitlines() if ln.startswith("default")), "")


def dnat_tables(d: Daemon, ip: str) -> list[str]:
    """The dockyard nft tables holding a DNAT element towards `ip`."""
    out = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True).stdout
    names = [ln.split()[-1] for ln in out.splitlines() if "dockyard" in ln]
    found = []
    for name in names:
        text = subprocess.run(["nft", "list", "table", "ip", name], capture_output=True,
                              text=True).stdout  # fmt: skip
        if f": {ip} . " in text:
            found.append(name)
    return found


def connect(d: Daemon, *args: str) -> None:
    p = d.dockyard("network", *args)
    assert p.returncode == 0, p.stderr


def test_ports_follow_the_gateway_network(daemon: Daemon, nets: tuple[str, str]) -> None:
    """N5: run -p on c; connect a (sorts first): route and DNAT move to a, Ports unchanged;
    disconnect a: back to c; connect bridge, disconnect c (which carried them): bridge; a
    restart keeps c out."""
    a, c = nets
    port = free_port()
    cid = run(daemon, "-p", f"127.0.0.1:{port}:80", "--network", c, "busybox", "sh", "-c", HTTPD)
    try:
        ports = inspect(daemon, cid)["NetworkSettings"]["Ports"]
        assert ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert http_get("127.0.0.1", port).startswith("hello-")
        assert f"via {gateway_of(daemon, c)} dev eth0" in default_route(daemon, cid)

        connect(daemon, "connect", a, cid)
        info = inspect(daemon, cid)
        assert info["NetworkSettings"]["Ports"] == ports
        ip_a = info["NetworkSettings"]["Networks"][a]["IPAddress"]
        ip_c = info["NetworkSettings"]["Networks"][c]["IPAddress"]
        assert f"via {gateway_of(daemon, a)} dev eth1" in default_route(daemon, cid)
        assert len(dnat_tables(daemon, ip_a)) == 1 and dnat_tables(daemon, ip_c) == []
        assert http_get("127.0.0.1", port).startswith("hello-")

        connect(daemon, "disconnect", a, cid)
        assert f"via {gateway_of(daemon, c)} dev eth0" in default_route(daemon, cid)
        assert len(dnat_tables(daemon, ip_c)) == 1 and dnat_tables(daemon, ip_a) == []
        assert http_get("127.0.0.1", port).startswith("hello-")

        connect(daemon, "connect", "bridge", cid)
        connect(daemon, "disconnect", c, cid)
        info = inspect(daemon, cid)
        assert list(info["NetworkSettings"]["Networks"]) == ["bridge"]
        ip_b = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert info["NetworkSettings"]["IPAddress"] == ip_b
        assert "default via" in default_route(daemon, cid)
        assert len(dnat_tables(daemon, ip_b)) == 1
        assert http_get("127.0.0.1", port).startswith("hello-")

        assert daemon.dockyard("restart", "-t", "0", cid).returncode == 0
        info = inspect(daemon, cid)
        assert list(info["NetworkSettings"]["Networks"]) == ["bridge"]
        assert info["NetworkSettings"]["Ports"] == ports
        assert http_get("127.0.0.1", port, timeout=5).startswith("hello-")
    finally:
        rm(daemon, cid)


def test_connect_and_disconnect_the_default_bridge(daemon: Daemon, nets: tuple[str, str]) -> None:
    """N5: a user-network container joins `bridge` (eth1 live, reachable from a bridge
    container) and leaves it; Docker's errors for twice, --ip, --alias, not connected."""
    _, c = nets
    cid = run(daemon, "--network", c, "busybox", "sleep", "300")
    peer = run(daemon, "busybox", "sleep", "300")
    stopped = ""
    try:
        connect(daemon, "connect", "bridge", cid)
        info = inspect(daemon, cid)
        assert set(info["NetworkSettings"]["Networks"]) == {"bridge", c}
        ip_b = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert ip_b and info["NetworkSettings"]["IPAddress"] == ip_b
        assert f"{ip_b}/" in daemon.dockyard("exec", cid, "ip", "-o", "addr").stdout
        p = daemon.dockyard("exec", peer, "ping", "-c1", "-W2", ip_b)
        assert p.returncode == 0, p.stdout + p.stderr
        status, doc = daemon.api("GET", "/networks/bridge")
        assert cid in doc["Containers"]

        p = daemon.dockyard("network", "connect", "bridge", cid)
        assert "already exists in network bridge" in p.stderr
        p = daemon.dockyard("network", "connect", "--ip", "10.9.9.9", "bridge", peer)
        assert "user specified IP address is supported on user defined networks only" in p.stderr
        p = daemon.dockyard("network", "connect", "--alias", "zz", "bridge", cid)
        assert "network-scoped alias is supported only for containers in user defined" in p.stderr
        status, body = daemon.api("POST", "/networks/bridge/connect", {
            "Container": cid, "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.9.9.9"}}})  # fmt: skip
        assert status == 400, body

        connect(daemon, "disconnect", "bridge", cid)
        assert list(inspect(daemon, cid)["NetworkSettings"]["Networks"]) == [c]
        assert f"{ip_b}/" not in daemon.dockyard("exec", cid, "ip", "-o", "addr").stdout
        p = daemon.dockyard("network", "disconnect", "bridge", cid)
        assert f"container {cid} is not connected to network bridge" in p.stderr

        p = daemon.dockyard("create", "--network", c, "busybox", "sleep", "300")
        assert p.returncode == 0, p.stderr
        stopped = p.stdout.strip()
        connect(daemon, "connect", "bridge", stopped)
        assert daemon.dockyard("start", stopped).returncode == 0
        info = inspect(daemon, stopped)
        assert set(info["NetworkSettings"]["Networks"]) == {"bridge", c}
        addrs = daemon.dockyard("exec", stopped, "ip", "-o", "addr").stdout
        ip_b = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert f"eth0    inet {ip_b}/" in addrs, addrs  # dockerd attaches `bridge` first
        resolv = daemon.dockyard("exec", stopped, "cat", "/etc/resolv.conf").stdout
        assert "nameserver 127.0.0.11" in resolv
    finally:
        rm(daemon, cid, peer, *([stopped] if stopped else []))
