"""The bridge driver options Docker documents (N5, issue #5 item 1), applied on the real kernel:
driver.mtu, bridge.enable_icc, bridge.enable_ip_masquerade, bridge.host_binding_ipv4 and
container_iface_prefix; and libnetwork's interface numbering and /etc/hosts line on connect."""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.network import netns
from tests.conftest import Daemon
from tests.integration.network_helpers import HTTPD, free_port, http_get, inspect, nc_get, rm, run
from tests.integration.test_network_user import ip_on, make_net, net_rm

pytestmark = pytest.mark.integration

P = "com.docker.network."


@pytest.fixture
def nets(daemon: Daemon) -> Iterator[list[str]]:
    """Networks a test makes (append the name); their containers and they go at the end."""
    made: list[str] = []
    yield made
    for name in made:
        status, doc = daemon.api("GET", f"/networks/{name}")
        if status == 200:
            rm(daemon, *doc["Containers"])
    net_rm(daemon, *made)


def _net(d: Daemon, made: list[str], *opts: str) -> str:
    name = f"opt{random.randint(0, 1 << 30)}"
    make_net(d, name, *(a for o in opts for a in ("-o", o)))
    made.append(name)
    return name


def _bridge(d: Daemon, name: str) -> str:
    status, doc = d.api("GET", f"/networks/{name}")
    assert status == 200, doc
    return f"dy-{doc['Id'][:12]}"


def _links(bridge: str) -> dict[str, int]:
    """The veths on a bridge, name -> MTU."""
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge],
                         capture_output=True, text=True, check=False).stdout  # fmt: skip
    found = {}
    for line in out.splitlines():
        fields = line.split()
        found[fields[1].rstrip(":").split("@")[0]] = int(fields[fields.index("mtu") + 1])
    return found


def _mtu(dev: str) -> int:
    return int(Path(f"/sys/class/net/{dev}/mtu").read_text())


def _sh(d: Daemon, cid: str, script: str) -> subprocess.CompletedProcess[str]:
    return d.dockyard("exec", cid, "sh", "-c", script)


def test_mtu_sets_container_host_veth_and_bridge(daemon: Daemon, nets: list[str]) -> None:
    """N5: driver.mtu=9000 -> eth0, the host veth and the bridge carry MTU 9000."""
    net = _net(daemon, nets, P + "driver.mtu=9000")
    cid = run(daemon, "--network", net, "busybox", "sleep", "60")
    assert _sh(daemon, cid, "cat /sys/class/net/eth0/mtu").stdout.strip() == "9000"
    bridge = _bridge(daemon, net)
    assert list(_links(bridge).values()) == [9000]
    assert _mtu(bridge) == 9000


@pytest.mark.parametrize("mtu", ["60", "70000"])
def test_impossible_mtu_fails_start_and_connect_leaving_nothing(
    daemon: Daemon, nets: list[str], mtu: str
) -> None:
    """N5: accepted at create (as dockerd 20.10); run and connect fail with dockerd's wording
    (exit 125), and no veth, endpoint or running container is left."""
    net = _net(daemon, nets, P + f"driver.mtu={mtu}")
    name = f"mtu{random.randint(0, 1 << 30)}"
    p = daemon.dockyard("run", "-d", "--name", name, "--network", net, "busybox", "sleep", "60")
    assert p.returncode == 125, p.stderr
    want = (
        rf"failed to create endpoint {name} on network {net}: "
        r"failed to set MTU on host interface dyv[0-9a-f]{7}: invalid argument\n"
    )
    assert re.search(want, p.stderr), p.stderr
    assert _links(_bridge(daemon, net)) == {}
    assert inspect(daemon, name)["State"]["Running"] is False
    status, doc = daemon.api("GET", f"/networks/{net}")
    assert doc["Containers"] == {}
    other = run(daemon, "busybox", "sleep", "60")
    try:
        p = daemon.dockyard("network", "connect", net, other)
        assert p.returncode != 0 and "failed to set MTU on host interface" in p.stderr, p.stderr
        assert _links(_bridge(daemon, net)) == {}
        assert list(inspect(daemon, other)["NetworkSettings"]["Networks"]) == ["bridge"]
        assert _sh(daemon, other, "ls /sys/class/net").stdout.split() == ["eth0", "lo"]
    finally:
        rm(daemon, other, name)


def test_icc_false_isolates_containers_but_not_gateway_or_ports(
    daemon: Daemon, nets: list[str]
) -> None:
    """N5: enable_icc=false: no ping or TCP between two containers on the network; the gateway
    answers and a published port still works. The control network (icc on) lets them talk."""
    net = _net(daemon, nets, P + "bridge.enable_icc=false")
    port = free_port()
    a = run(daemon, "--network", net, "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD)
    b = run(daemon, "--network", net, "busybox", "sleep", "60")
    ip_a, info_b = ip_on(inspect(daemon, a), net), inspect(daemon, b)
    gateway = info_b["NetworkSettings"]["Networks"][net]["Gateway"]
    assert _sh(daemon, b, f"ping -c1 -W1 {ip_a}").returncode != 0
    assert "hello" not in _sh(daemon, b, nc_get(ip_a, 80)).stdout
    assert _sh(daemon, b, f"ping -c1 -W2 {gateway}").returncode == 0, "gateway unreachable"
    assert http_get("127.0.0.1", port).startswith("hello-")
    # the same two containers on an icc network reach each other
    ctl = _net(daemon, nets)
    for cid in (a, b):
        assert daemon.dockyard("network", "connect", ctl, cid).returncode == 0
    ip_a2 = ip_on(inspect(daemon, a), ctl)
    assert _sh(daemon, b, f"ping -c1 -W2 {ip_a2}").returncode == 0


@contextlib.contextmanager
def _remote_listener() -> Iterator[tuple[str, list[str], Path]]:
    """A namespace wired to the host by a veth on a /30 of 10.126.0.0/16 (host .1, remote .2)
    with a TCP listener on remote:9000 that records its peers' addresses."""
    third = random.randint(0, 255)
    host_ip, remote_ip = f"10.126.{third}.1", f"10.126.{third}.2"
    host_if = f"dyrm{random.randint(0, 1 << 20):x}"
    path = Path(f"/run/dyrm-{host_if}")
    with contextlib.ExitStack() as stack:
        netns.create(path)
        stack.callback(netns.remove, path)

        def ns(*cmd: str) -> None:
            r = subprocess.run(["nsenter", f"--net={path}", *cmd], capture_output=True, text=True)
            assert r.returncode == 0, (cmd, r.stderr)

        ns("ip", "link", "add", "eth0", "type", "veth", "peer", "name", host_if,
           "netns", str(os.getpid()))  # fmt: skip
        stack.callback(subprocess.run, ["ip", "link", "del", host_if], capture_output=True)
        for cmd in (["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
                    ["ip", "link", "set", host_if, "up"]):  # fmt: skip
            subprocess.run(cmd, check=True)
        ns("ip", "link", "set", "lo", "up")
        ns("ip", "addr", "add", f"{remote_ip}/30", "dev", "eth0")
        ns("ip", "link", "set", "eth0", "up")
        ns("ip", "route", "add", "default", "via", host_ip)  # replies to unmasqueraded sources
        socks: list[socket.socket] = []

        def bind() -> None:
            s = socket.socket()
            s.bind((remote_ip, 9000))
            s.listen()
            socks.append(s)

        netns.run_inside(path, bind)
        stack.callback(socks[0].close)
        peers: list[str] = []

        def serve() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, addr = socks[0].accept()
                    with conn:
                        peers.append(addr[0])
                        conn.recv(4096)
                        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nremote-ok\n")

        threading.Thread(target=serve, daemon=True).start()
        yield remote_ip, peers, path


def test_masquerade_false_keeps_the_container_source(daemon: Daemon, nets: list[str]) -> None:
    """N5: enable_ip_masquerade=false: no outbound masquerade rule for the subnet, and a
    listener outside sees the container's own address; with it on, the host's."""
    plain = _net(daemon, nets)
    off = _net(daemon, nets, P + "bridge.enable_ip_masquerade=false")
    tables = {n: subprocess.run(["nft", "list", "table", "ip", f"dockyard-{_bridge(daemon, n)}"],
                                capture_output=True, text=True).stdout for n in (plain, off)}  # fmt: skip
    assert 'oifname != "dy-' in tables[plain] and "masquerade" in tables[plain]
    assert 'oifname != "dy-' not in tables[off]
    assert "fib saddr type local masquerade" in tables[off]  # host -> containers still NAT'd
    with _remote_listener() as (remote_ip, peers, _):
        for net in (off, plain):
            cid = run(daemon, "--network", net, "busybox", "sleep", "60")
            out = _sh(daemon, cid, nc_get(remote_ip, 9000))
            assert out.stdout.strip() == "remote-ok", out
            expected = ip_on(inspect(daemon, cid), net) if net == off else remote_ip[:-1] + "1"
            assert peers[-1] == expected, (net, peers)


def test_host_binding_ipv4_is_the_default_host_ip(daemon: Daemon, nets: list[str]) -> None:
    """N5: host_binding_ipv4=127.0.0.2: `-p PORT:80` binds 127.0.0.2 only (Ports HostIp),
    answers there and is refused on 127.0.0.1; an explicit address still wins."""
    net = _net(daemon, nets, P + "bridge.host_binding_ipv4=127.0.0.2")
    port, other = free_port(), free_port()
    cid = run(daemon, "--network", net, "-p", f"{port}:80", "-p", f"127.0.0.1:{other}:8080",
              "busybox", "sh", "-c", HTTPD)  # fmt: skip
    shown = inspect(daemon, cid)["NetworkSettings"]["Ports"]
    assert shown["80/tcp"] == [{"HostIp": "127.0.0.2", "HostPort": str(port)}]
    assert shown["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(other)}]
    assert http_get("127.0.0.2", port).startswith("hello-")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


def test_iface_prefix_and_numbers_counting_up(daemon: Daemon, nets: list[str]) -> None:
    """N5: container_iface_prefix=foo names the interface foo0; numbers count per prefix and
    are not reused after a disconnect (libnetwork's sandbox); a restart starts again. connect
    adds the hostname's new address to /etc/hosts, disconnect drops the hostname's lines and a
    start writes one per network."""
    foo = _net(daemon, nets, P + "container_iface_prefix=foo")
    n1, n2 = _net(daemon, nets), _net(daemon, nets)
    cid = run(daemon, "--network", foo, "--hostname", "box", "busybox", "sleep", "600")

    def ifaces() -> list[str]:
        return sorted(_sh(daemon, cid, "ls /sys/class/net").stdout.split())

    assert ifaces() == ["foo0", "lo"]
    assert daemon.dockyard("network", "connect", n1, cid).returncode == 0
    assert ifaces() == ["eth0", "foo0", "lo"]
    ip1 = ip_on(inspect(daemon, cid), n1)
    assert f"{ip1}\tbox" in _sh(daemon, cid, "cat /etc/hosts").stdout.splitlines()
    assert daemon.dockyard("network", "disconnect", n1, cid).returncode == 0
    # dockerd 20.10 drops every line ending in the hostname (a suffix match), its first too
    assert "box" not in _sh(daemon, cid, "cat /etc/hosts").stdout
    assert daemon.dockyard("network", "connect", n2, cid).returncode == 0
    assert ifaces() == ["eth1", "foo0", "lo"]
    p = daemon.dockyard("restart", "-t", "0", cid)
    assert p.returncode == 0, p.stderr
    assert ifaces() == ["eth0", "foo0", "lo"]
    hosts = _sh(daemon, cid, "cat /etc/hosts").stdout.splitlines()
    info = inspect(daemon, cid)
    assert [ln for ln in hosts if ln.endswith("\tbox")] == [
        f"{ip_on(info, net)}\tbox" for net in (foo, n2)
    ]
