"""Dual-stack user networks (N3, N5, issue #16 item 2), on the real kernel: `network create
--ipv6 --subnet fd..::/64` gives the bridge the IPv6 gateway, each endpoint an IPv6 address
(the lowest free, or `--ip6`) with a default route through it, AAAA answers from the embedded
DNS, and nothing left after the network goes. Test subnets are random ULA /64s; traffic only
between the test's own containers and its bridge."""

from __future__ import annotations

import os
import random
import subprocess
from ipaddress import IPv6Address, IPv6Network

import pytest

from tests.conftest import Daemon, private_daemon, until
from tests.integration.network_helpers import inspect, rm, run

pytestmark = pytest.mark.integration


def ula() -> IPv6Network:
    """A random /64 in fd00::/8."""
    return IPv6Network((0xFD << 120) | (random.getrandbits(56) << 64), strict=False).supernet(
        new_prefix=64
    )


def test_dual_stack_network_addresses_routes_dns_and_cleanup(daemon: Daemon) -> None:
    net6 = ula()
    name = f"six{random.randint(0, 1 << 30)}"
    p = daemon.dockyard("network", "create", "--ipv6", "--subnet", str(net6), name)
    assert p.returncode == 0, p.stderr
    made: list[str] = []
    try:
        status, doc = daemon.api("GET", f"/networks/{name}")
        assert status == 200 and doc["EnableIPv6"] is True
        v4, v6 = doc["IPAM"]["Config"]
        assert set(v4) == {"Subnet", "Gateway"} and v6 == {"Subnet": str(net6)}
        device = f"dy-{doc['Id'][:12]}"
        gw = net6[1]
        host = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", device],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert f"{gw}/64" in host
        fixed = net6[0x99]
        a = run(daemon, "--name", f"{name}a", "--network", name, "--ip6", str(fixed),
                "busybox", "sleep", "120")  # fmt: skip
        made.append(a)
        b = run(daemon, "--name", f"{name}b", "--network", name, "busybox", "sleep", "120")
        made.append(b)
        ep = inspect(daemon, b)["NetworkSettings"]["Networks"][name]
        assert (ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"], ep["IPv6Gateway"]) == (
            str(net6[2]), 64, str(gw))  # fmt: skip
        ep_a = inspect(daemon, a)["NetworkSettings"]["Networks"][name]
        assert ep_a["GlobalIPv6Address"] == str(fixed)
        assert ep_a["IPAMConfig"]["IPv6Address"] == str(fixed)
        status, doc = daemon.api("GET", f"/networks/{name}")
        assert doc["Containers"][b]["IPv6Address"] == f"{net6[2]}/64"

        def in_b(*cmd: str) -> str:
            r = daemon.dockyard("exec", b, *cmd)
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
            return r.stdout

        assert f"inet6 {net6[2]}/64" in in_b("ip", "-6", "addr", "show", "eth0")
        hosts = in_b("cat", "/etc/hosts").splitlines()  # its own lines, v4 then v6 (dockerd)
        assert hosts[-1] == f"{net6[2]}\t{b[:12]}" and hosts[-2].endswith(f"\t{b[:12]}")
        assert f"default via {gw} dev eth0" in in_b("ip", "-6", "route")
        answer = in_b("nslookup", "-type=AAAA", f"{name}a")
        assert f"Address: {fixed}" in answer, answer
        assert "0% packet loss" in in_b("ping6", "-c", "1", "-W", "5", f"{name}a")
        assert "0% packet loss" in in_b("ping6", "-c", "1", "-W", "5", str(gw))
        # connect with --ip6; a taken address is refused in dockerd's words
        c = run(daemon, "--name", f"{name}c", "busybox", "sleep", "120")
        made.append(c)
        r = daemon.dockyard("network", "connect", "--ip6", str(fixed), name, c)
        assert r.returncode != 0 and "Address already in use" in r.stderr
        r = daemon.dockyard("network", "connect", "--ip6", str(net6[0x77]), name, c)
        assert r.returncode == 0, r.stderr
        eth1 = daemon.dockyard("exec", c, "ip", "-6", "addr", "show", "eth1").stdout
        assert f"inet6 {net6[0x77]}/64" in eth1
    finally:
        rm(daemon, *made)
        daemon.api("DELETE", f"/networks/{name}")
    gone = subprocess.run(["ip", "link", "show", device], capture_output=True, text=True)
    assert gone.returncode != 0


def test_ipv6_config_errors(daemon: Daemon) -> None:
    """EnableIPv6 without a v6 subnet finds no pool (404, as dockerd 20.10); --ip6 outside the
    subnet is refused at start; a v6 subnet overlapping another network's is refused."""
    status, body = daemon.api("POST", "/networks/create", {"Name": "nov6", "EnableIPv6": True})
    assert (status, body["message"]) == (
        404,
        "could not find an available, non-overlapping IPv6 address pool among the defaults "
        "to assign to the network",
    )
    net6 = ula()
    name = f"sixe{random.randint(0, 1 << 30)}"
    p = daemon.dockyard("network", "create", "--ipv6", "--subnet", str(net6), name)
    assert p.returncode == 0, p.stderr
    try:
        inner = IPv6Network(f"{net6.network_address}/80")
        p = daemon.dockyard("network", "create", "--ipv6", "--subnet", str(inner), name + "x")
        assert p.returncode != 0 and "Pool overlaps with other one" in p.stderr
        outside = IPv6Address(int(net6.network_address) ^ (1 << 64))
        p = daemon.dockyard("run", "--rm", "--network", name, "--ip6", str(outside),
                            "busybox", "true")  # fmt: skip
        assert p.returncode != 0
        assert f"no configured subnet or ip-range contain the IP address {outside}" in p.stderr
    finally:
        daemon.api("DELETE", f"/networks/{name}")


def test_default_bridge_with_fixed_cidr_v6() -> None:
    """`dockyard daemon --ipv6 --fixed-cidr-v6 fd..::/64`: the default bridge carries the IPv6
    gateway, `bridge` shows the subnet, and a container on it gets the next address, shown
    at the top of NetworkSettings too (the bridge endpoint's fields), reachable on-link."""
    net6 = ula()
    with private_daemon("v6", f"dyw{os.getpid()}", "--ipv6", "--fixed-cidr-v6", str(net6)) as d:
        status, doc = d.api("GET", "/networks/bridge")
        assert status == 200 and doc["EnableIPv6"] is True
        assert {"Subnet": str(net6), "Gateway": str(net6[1])} in doc["IPAM"]["Config"]
        host = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", d.bridge],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert f"{net6[1]}/64" in host
        c = run(d, "busybox", "sleep", "120")
        try:
            ns = inspect(d, c)["NetworkSettings"]
            want = (str(net6[2]), 64, str(net6[1]))
            assert (ns["GlobalIPv6Address"], ns["GlobalIPv6PrefixLen"], ns["IPv6Gateway"]) == want
            ep = ns["Networks"]["bridge"]
            assert (ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"], ep["IPv6Gateway"]) == want
            r = d.dockyard("exec", c, "ping6", "-c", "1", "-W", "5", str(net6[1]))
            assert "0% packet loss" in r.stdout, (r.stdout, r.stderr)
        finally:
            rm(d, c)
    bad = private_daemon("v6b", f"dyx{os.getpid()}", "--ipv6")
    with pytest.raises(RuntimeError, match="--fixed-cidr-v6 is needed with --ipv6"), bad:
        pass


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def _proxies(d: Daemon) -> list[str]:
    """The daemon's userland proxy processes (their binary lives under its data root)."""
    out = subprocess.run(["pgrep", "-af", f"{d.data_root}/bin/dockyard-proxy"],
                         capture_output=True, text=True).stdout  # fmt: skip
    return out.splitlines()


def test_publish_on_ipv6_loopback_through_the_userland_proxy(daemon: Daemon) -> None:
    """N2/N3 (#16 item 2, D-dpy6-4): `-p [::1]:PORT:80` on a dual-stack network: curl to
    http://[::1]:PORT/ reaches busybox httpd in the container through dockyard-proxy (the
    kernel cannot DNAT ::1); inspect shows HostIp ::1; stop ends the proxy and frees the port."""
    net6 = ula()
    name = f"six{random.randint(0, 1 << 30)}"
    p = daemon.dockyard("network", "create", "--ipv6", "--subnet", str(net6), name)
    assert p.returncode == 0, p.stderr
    port = _free_port()
    cid = ""
    try:
        cid = run(daemon, "--network", name, "-p", f"[::1]:{port}:80", "busybox", "sh", "-c",
                  "mkdir /www && echo hello-six > /www/index.html && httpd -f -p 80 -h /www")  # fmt: skip
        doc = inspect(daemon, cid)
        assert doc["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "::1",
                                                              "HostPort": str(port)}]  # fmt: skip
        assert len(_proxies(daemon)) == 1
        url = f"http://[::1]:{port}/"
        for _ in range(3):  # each request its own connection through the proxy
            got = subprocess.run(["curl", "-s", "-m", "10", "--retry", "5", "--retry-connrefused",
                                  url], capture_output=True, text=True)  # fmt: skip
            assert got.stdout == "hello-six\n", got.stderr
        busy = subprocess.run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{port}/"],
                              capture_output=True)  # fmt: skip
        assert busy.returncode != 0  # only [::1] was published
        assert daemon.dockyard("stop", "-t", "1", cid).returncode == 0
        assert _proxies(daemon) == []
        gone = subprocess.run(["curl", "-s", "-m", "5", url], capture_output=True)
        assert gone.returncode == 7  # connection refused: nothing listens any more
    finally:
        if cid:
            rm(daemon, cid)
        daemon.dockyard("network", "rm", name)


def test_ipv6_loopback_proxy_ends_with_the_daemon_and_comes_back() -> None:
    """D-dpy6-4: the proxy ends with the daemon process (its lifeline pipe), the container goes
    on running (live-restore), and the next daemon start proxies its [::1] port again."""
    with private_daemon("-p6", f"dyp{os.getpid()}") as d:
        port = _free_port()
        cid = run(d, "-p", f"[::1]:{port}:80", "busybox", "sh", "-c",
                  "mkdir /www && echo again > /www/index.html && httpd -f -p 80 -h /www")  # fmt: skip
        url = f"http://[::1]:{port}/"
        curl = ["curl", "-s", "-m", "10", "--retry", "5", "--retry-connrefused", url]
        assert subprocess.run(curl, capture_output=True, text=True).stdout == "again\n"
        d.stop()
        assert until(lambda: _proxies(d) == [], 5)
        d.start()
        assert inspect(d, cid)["State"]["Running"] is True
        got = subprocess.run(curl, capture_output=True, text=True).stdout
        assert got == "again\n", d.log_path.read_text()[-3000:]
        rm(d, cid)
        assert _proxies(d) == []


def test_dual_stack_daemon_publishes_the_ipv6_side_too() -> None:
    """D-dpy6-4: on a dual-stack daemon (`--ipv6 --fixed-cidr-v6`) `-p PORT:80` is published on
    0.0.0.0 (kernel DNAT) and on `::` (the userland proxy), the same host port, as dockerd shows
    it; http://[::1]:PORT/ and http://127.0.0.1:PORT/ both reach busybox httpd; stop ends both."""
    net6 = ula()
    with private_daemon("v6p", f"dyq{os.getpid()}", "--ipv6", "--fixed-cidr-v6", str(net6)) as d:
        port = _free_port()
        cid = run(d, "-p", f"{port}:80", "busybox", "sh", "-c",
                  "mkdir /www && echo both > /www/index.html && httpd -f -p 80 -h /www")  # fmt: skip
        try:
            ports_doc = inspect(d, cid)["NetworkSettings"]["Ports"]
            assert ports_doc == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)},
                                            {"HostIp": "::", "HostPort": str(port)}]}  # fmt: skip
            ps = d.dockyard("ps", "--format", "{{.Ports}}").stdout  # as a current docker CLI
            assert ps == f"0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp\n"
            ps = subprocess.run(["/usr/bin/docker", "ps", "--format", "{{.Ports}}"], env=d.env(),
                                capture_output=True, text=True).stdout  # fmt: skip
            assert ps == f"0.0.0.0:{port}->80/tcp, :::{port}->80/tcp\n"  # docker CLI 20.10
            for url in (f"http://[::1]:{port}/", f"http://127.0.0.1:{port}/"):
                got = subprocess.run(["curl", "-s", "-m", "10", "--retry", "5",
                                      "--retry-connrefused", url], capture_output=True, text=True)  # fmt: skip
                assert got.stdout == "both\n", (url, got.stderr)
            assert len(_proxies(d)) == 1
            assert d.dockyard("stop", "-t", "1", cid).returncode == 0
            assert _proxies(d) == []
        finally:
            rm(d, cid)
