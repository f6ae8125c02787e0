"""The default bridge on a real kernel (N3, N1): endpoints, inspect, traffic by IP, published
ports from the host (127.0.0.1 and the gateway) and from containers (hairpin), UDP, -P, port
conflicts, restart, cleanup. Traffic goes only to 127.0.0.1 and to our own containers."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from pathlib import Path

import pytest

from dockyard.network.firewall import forward
from dockyard.network.service import NO_FORWARDING
from tests.conftest import Daemon, private_daemon
from tests.integration.network_helpers import (
    HTTPD,
    free_port,
    http_get,
    import_udp_echo,
    inspect,
    nc_get,
    nft_table,
    rm,
    run,
    sh,
    veths_on,
)

pytestmark = pytest.mark.integration


def test_endpoint_inspect_and_cleanup(daemon: Daemon) -> None:
    """N3: an address from the bridge's subnet, Docker's MAC, the gateway, a netns, a veth on
    our bridge; `network inspect bridge` names the device; rm leaves nothing behind."""
    cid = run(daemon, "busybox", "sleep", "60")
    try:
        ns = inspect(daemon, cid)["NetworkSettings"]
        status, net = daemon.api("GET", "/networks/bridge")
        assert status == 200
        assert net["Options"]["com.docker.network.bridge.name"] == daemon.bridge
        subnet = ipaddress.ip_network(net["IPAM"]["Config"][0]["Subnet"])
        ip = ipaddress.ip_address(ns["IPAddress"])
        assert ip in subnet and ns["IPPrefixLen"] == subnet.prefixlen
        assert ns["Gateway"] == net["IPAM"]["Config"][0]["Gateway"]
        assert ns["MacAddress"] == "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)
        assert ns["Networks"]["bridge"]["NetworkID"] == net["Id"]
        assert ns["Networks"]["bridge"]["IPAddress"] == str(ip)
        assert net["Containers"][cid]["IPv4Address"] == f"{ip}/{subnet.prefixlen}"
        assert Path(ns["SandboxKey"]).exists()
        veths = veths_on(daemon.bridge)
        assert len(veths) == 1 and veths[0].startswith("dyv")
        out = daemon.dockyard("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0")
        assert str(ip) in out.stdout
        out = daemon.dockyard("exec", cid, "ip", "route")
        assert f"default via {ns['Gateway']}" in out.stdout
        assert (
            Path(f"/proc/sys/net/ipv4/conf/{daemon.bridge}/route_localnet").read_text().strip()
            == "1"
        )
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
        sandbox = ns["SandboxKey"]
        assert daemon.api("POST", f"/containers/{cid}/stop?t=1")[0] == 204
        stopped = inspect(daemon, cid)["NetworkSettings"]
        assert stopped["IPAddress"] == "" and stopped["Ports"] == {}
        assert stopped["Networks"]["bridge"]["NetworkID"] == net["Id"]
        assert veths_on(daemon.bridge) == []
        assert not Path(sandbox).exists()
        assert daemon.api("GET", "/networks/bridge")[1]["Containers"] == {}
    finally:
        rm(daemon, cid)


def test_containers_reach_each_other_by_ip(daemon: Daemon) -> None:
    """N3: ping and HTTP between two containers on the default bridge; names do not resolve."""
    web = run(daemon, "--name", "net-web1", "busybox", "sh", "-c", HTTPD)
    try:
        ip = inspect(daemon, web)["NetworkSettings"]["IPAddress"]
        p = sh(daemon, "busybox", "sh", "-c", f"ping -c1 -W2 {ip} >/dev/null && {nc_get(ip, 80)}")
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == f"hello-{web[:12]}"
        p = sh(daemon, "busybox", "sh", "-c", "ping -c1 -W1 net-web1")
        assert p.returncode != 0
    finally:
        rm(daemon, web)


def test_published_port_from_host_gateway_and_containers(daemon: Daemon) -> None:
    """N1: -p answers on 127.0.0.1 and on the gateway from the host, from another container
    through the gateway and from the container itself (hairpin); rules are ours and tagged."""
    port = free_port()
    web = run(daemon, "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD)
    try:
        info = inspect(daemon, web)
        gw = info["NetworkSettings"]["Gateway"]
        assert info["NetworkSettings"]["Ports"] == {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
        }
        assert info["HostConfig"]["PortBindings"] == {
            "80/tcp": [{"HostIp": "", "HostPort": str(port)}]
        }
        want = f"hello-{web[:12]}"
        assert http_get("127.0.0.1", port) == want
        assert http_get(gw, port) == want
        p = sh(daemon, "busybox", "sh", "-c", nc_get(gw, port))
        assert p.stdout.strip() == want, p.stderr
        p = daemon.dockyard("exec", web, "sh", "-c", nc_get(gw, port))
        assert p.stdout.strip() == want, p.stderr
        assert f'comment "dockyard:{web[:12]}"' in nft_table(daemon)
        with socket.socket() as s, pytest.raises(OSError):
            s.bind(("0.0.0.0", port))  # the daemon holds the port
        ps = daemon.dockyard("ps", "--format", "{{.Ports}}", "--filter", f"id={web}")
        assert ps.stdout.strip() == f"0.0.0.0:{port}->80/tcp"
    finally:
        rm(daemon, web)
    assert web[:12] not in nft_table(daemon)
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))  # released


def test_udp_publish_on_loopback(daemon: Daemon) -> None:
    """N1: a UDP port published on 127.0.0.1 reaches the container and the reply comes back."""
    port = free_port()
    import_udp_echo(daemon, "dy-udpecho:test")
    cid = run(daemon, "-p", f"127.0.0.1:{port}:5000/udp", "dy-udpecho:test", "/udpecho", "5000")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            reply = b""
            for _ in range(10):
                s.sendto(b"udp-hello", ("127.0.0.1", port))
                try:
                    reply = s.recv(100)
                    break
                except TimeoutError:
                    continue
        assert reply == b"udp-hello"
        assert inspect(daemon, cid)["NetworkSettings"]["Ports"]["5000/udp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(port)}
        ]
    finally:
        rm(daemon, cid)
        daemon.api("DELETE", "/images/dy-udpecho:test?force=1")


def test_publish_all_port_command_and_restart_keeps_ports(daemon: Daemon) -> None:
    """N1: -P publishes EXPOSEd ports on ephemeral host ports; `port` lists them; a restart
    keeps them."""
    cid = run(daemon, "-P", "--expose", "80", "--expose", "81/udp", "busybox", "sh", "-c", HTTPD)
    try:
        ports = inspect(daemon, cid)["NetworkSettings"]["Ports"]
        tcp = int(ports["80/tcp"][0]["HostPort"])
        udp = int(ports["81/udp"][0]["HostPort"])
        out = daemon.dockyard("port", cid).stdout.splitlines()
        assert out == [f"80/tcp -> 0.0.0.0:{tcp}", f"81/udp -> 0.0.0.0:{udp}"]
        assert daemon.dockyard("port", cid, "80").stdout.strip() == f"0.0.0.0:{tcp}"
        bad = daemon.dockyard("port", cid, "82")
        assert bad.returncode != 0 and "No public port '82/tcp' published" in bad.stderr
        assert http_get("127.0.0.1", tcp) == f"hello-{cid[:12]}"
        assert daemon.dockyard("restart", "-t", "1", cid).returncode == 0
        again = inspect(daemon, cid)["NetworkSettings"]["Ports"]
        assert again == ports
        assert http_get("127.0.0.1", tcp) == f"hello-{cid[:12]}"
    finally:
        rm(daemon, cid)


def test_port_conflicts_leave_nothing(daemon: Daemon) -> None:
    """N1: a port held by another container is "port is already allocated", one held by another
    process "address already in use" (500); the failed start leaves no veth, netns or rule."""
    port = free_port()
    first = run(daemon, "-p", f"{port}:80", "busybox", "sleep", "60")
    try:
        p = daemon.dockyard("run", "-d", "-p", f"{port}:80", "busybox", "sleep", "60")
        assert p.returncode != 0
        assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in p.stderr
        assert "driver failed programming external connectivity on endpoint" in p.stderr
        assert len(veths_on(daemon.bridge)) == 1
        other = free_port()
        with socket.socket() as s:
            s.bind(("127.0.0.1", other))
            s.listen()
            p = daemon.dockyard("run", "-d", "-p", f"{other}:80", "busybox", "sleep", "60")
            assert p.returncode != 0
            assert f"listen tcp4 0.0.0.0:{other}: bind: address already in use" in p.stderr
        assert len(veths_on(daemon.bridge)) == 1
        netns_dir = daemon.exec_root / "netns"
        assert sorted(x.name for x in netns_dir.iterdir()) == [first[:12]]
        assert str(other) not in nft_table(daemon)
    finally:
        _, ctrs = daemon.api("GET", "/containers/json?all=1")
        rm(daemon, *[c["Id"] for c in ctrs])


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["-p", "99999:80"], None, "99999"),
        (["-p", "abc"], None, "abc"),
        (["-p", "1-5:1-3"], None, "invalid ranges specified for container and host Ports"),
        (
            ["--ip", "172.31.0.9"],
            400,
            "user specified IP address is supported on user defined networks only",
        ),
        (["--link", "nosuch:db"], 400, "could not get container for nosuch"),
    ],
)
def test_bad_network_input(
    daemon: Daemon, args: list[str], status: int | None, message: str
) -> None:
    """N1/N2/N4: Docker's wording; nothing is created."""
    before = daemon.api("GET", "/containers/json?all=1")[1]
    p = daemon.dockyard("run", "-d", *args, "busybox", "true")
    assert p.returncode != 0
    assert message in p.stderr
    assert daemon.api("GET", "/containers/json?all=1")[1] == before
    if status is not None:
        body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {}}
        if args[0] == "--network":
            body["HostConfig"] = {"NetworkMode": args[1]}
        elif args[0] == "--ip":
            body["NetworkingConfig"] = {
                "EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": args[1]}}}
            }
        else:
            body["HostConfig"] = {"Links": [args[1]]}
        got, out = daemon.api("POST", "/containers/create", body)
        assert got == status and message in out["message"]


def test_per_container_files(daemon: Daemon) -> None:
    """N6: --hostname, --add-host (host-gateway too), --dns, --dns-search, --dns-option."""
    gw = daemon.api("GET", "/networks/bridge")[1]["IPAM"]["Config"][0]["Gateway"]
    p = sh(daemon, "--hostname", "box1", "--add-host", "db.example:10.9.8.7",
           "--add-host", "host.docker.internal:host-gateway", "--dns", "10.1.1.1",
           "--dns-search", "corp.example", "--dns-option", "ndots:3",
           "busybox", "sh", "-c", "hostname; cat /etc/hosts /etc/resolv.conf")  # fmt: skip
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "box1"
    assert "10.9.8.7\tdb.example" in lines
    assert f"{gw}\thost.docker.internal" in lines
    assert any(ln.endswith("\tbox1") for ln in lines)
    assert lines[-3:] == ["search corp.example", "nameserver 10.1.1.1", "options ndots:3"]
    p = sh(daemon, "busybox", "cat", "/etc/resolv.conf")
    assert "nameserver 127." not in p.stdout


def test_daemon_keeps_bridge_table_and_host_untouched(daemon: Daemon) -> None:
    """N3: our table and bridge carry our names; the host's own chains are not ours to edit."""
    assert os.path.exists(f"/sys/class/net/{daemon.bridge}/bridge")
    table = nft_table(daemon)
    assert f'comment "dockyard:{daemon.bridge}"' in table
    assert "masquerade" in table
    # D-net-6: our accepts in the host's FORWARD chain, tagged with our bridge
    listing = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True)
    assert sorted(forward.parse(listing.stdout).get(daemon.bridge, [])) == sorted(
        forward.rules(daemon.bridge)
    )


@pytest.mark.compat  # drives the docker CLI: run with each CLI (scripts/test)
def test_iptables_false_makes_no_rules_and_says_so() -> None:
    """N1/N3, D-net-7: `--iptables=false` as dockerd: no nft table, no FORWARD accepts, no
    route_localnet; published ports are reserved and shown but not forwarded (no userland
    proxy), and create says so in its Warnings, which the docker CLI prints."""
    with private_daemon("-nf", f"dyf{os.getpid()}", "--iptables=false") as d:
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert f"dockyard-{d.bridge}" not in tables
        listing = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True,
                                 text=True).stdout  # fmt: skip
        assert d.bridge not in forward.parse(listing)
        assert Path(f"/proc/sys/net/ipv4/conf/{d.bridge}/route_localnet").read_text() == "0\n"
        port = free_port()
        status, out = d.api("POST", "/containers/create", {
            "Image": "busybox", "Cmd": ["sh", "-c", HTTPD], "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": str(port)}]}}})  # fmt: skip
        assert status == 201 and out["Warnings"] == [NO_FORWARDING], out
        cid = out["Id"]
        try:
            assert d.api("POST", f"/containers/{cid}/start")[0] == 204
            ports = inspect(d, cid)["NetworkSettings"]["Ports"]
            assert ports["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
            with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 1):
                pass  # reserved (bound, not listening): refused, never a half-working path
            p = subprocess.run(["docker", "create", "-p", "80", "busybox"], env=d.env(),
                               capture_output=True, text=True)  # fmt: skip
            assert p.returncode == 0 and f"WARNING: {NO_FORWARDING}" in p.stderr, p.stderr
            rm(d, p.stdout.strip())
        finally:
            rm(d, cid)


def test_host_mode_discards_published_ports(daemon: Daemon) -> None:
    """N4: as dockerd, -p with --network host is accepted with a warning."""
    status, out = daemon.api("POST", "/containers/create", {
        "Image": "busybox", "HostConfig": {"NetworkMode": "host",
                                           "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}})  # fmt: skip
    assert status == 201
    try:
        assert out["Warnings"] == ["Published ports are discarded when using host network mode"]
    finally:
        rm(daemon, out["Id"])


def test_user_network_bridges_get_and_lose_forward_accepts(daemon: Daemon) -> None:
    """D-net-6: a user network's bridge gets its FORWARD accepts at create (an --internal one
    only bridge-to-bridge) and loses them at rm."""

    def ours() -> dict[str, list[str]]:
        out = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True)
        return forward.parse(out.stdout)

    made: list[str] = []
    try:
        for name, internal in (("fwd-open", False), ("fwd-internal", True)):
            status, out = daemon.api("POST", "/networks/create",
                                     {"Name": name, "Internal": internal})  # fmt: skip
            assert status == 201, out
            made.append(out["Id"])
            _, net = daemon.api("GET", f"/networks/{out['Id']}")
            device = net["Options"].get("com.docker.network.bridge.name") or f"dy-{out['Id'][:12]}"
            assert sorted(ours()[device]) == sorted(forward.rules(device, internal))
        for nid in made:
            assert daemon.api("DELETE", f"/networks/{nid}")[0] == 204
        assert not [b for b in ours() if b.startswith("dy-") and b[3:] in {n[:12] for n in made}]
    finally:
        for nid in made:
            daemon.api("DELETE", f"/networks/{nid}")
