"""User-defined networks (N5): create/inspect/ls/rm/prune, --ip, aliases, connect/disconnect,
isolation, internal networks, addresses kept across restarts, concurrent creates."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.integration.network_helpers import inspect, rm, run

pytestmark = pytest.mark.integration


def make_net(d: Daemon, name: str, *extra: str, subnet: bool = True) -> str:
    """A network on a random 10.x.y.0/24 (retried on overlap with another test daemon's)."""
    for _ in range(20):
        args = list(extra)
        if subnet:
            x, y = random.randint(100, 250), random.randint(0, 255)
            args = [f"--subnet=10.{x}.{y}.0/24", f"--gateway=10.{x}.{y}.1", *args]
        p = d.dockyard("network", "create", *args, name)
        if p.returncode == 0:
            return p.stdout.strip()
        assert "overlaps" in p.stderr, p.stderr
    raise AssertionError("no free subnet")


def net_rm(d: Daemon, *names: str) -> None:
    for n in names:
        d.api("DELETE", f"/networks/{n}")


def subnet_of(d: Daemon, name: str) -> str:
    status, doc = d.api("GET", f"/networks/{name}")
    assert status == 200, doc
    return str(doc["IPAM"]["Config"][0]["Subnet"])


@contextlib.contextmanager
def temp_net(daemon: Daemon, prefix: str) -> Iterator[str]:
    """A user network with a random name; its containers and itself are removed after."""
    name = f"{prefix}{random.randint(0, 1 << 30)}"
    make_net(daemon, name)
    try:
        yield name
    finally:
        status, doc = daemon.api("GET", f"/networks/{name}")
        if status == 200:
            rm(daemon, *doc["Containers"])
        net_rm(daemon, name)


@pytest.fixture
def mynet(daemon: Daemon) -> Iterator[str]:
    with temp_net(daemon, "mynet") as name:
        yield name


def ip_on(info: Any, net: str) -> str:
    return str(info["NetworkSettings"]["Networks"][net]["IPAddress"])


def test_seed_walkthrough(daemon: Daemon, mynet: str) -> None:
    """N5: create with subnet+gateway, run --ip, ping by name, connect a default-bridge
    container, then it resolves."""
    prefix = subnet_of(daemon, mynet).rsplit(".", 1)[0]
    a = run(daemon, "--name", f"{mynet}-a", "--network", mynet, "--ip", f"{prefix}.50",
            "busybox", "sleep", "300")  # fmt: skip
    b = run(daemon, "--name", f"{mynet}-b", "busybox", "sleep", "300")
    try:
        assert ip_on(inspect(daemon, a), mynet) == f"{prefix}.50"
        resolv = daemon.dockyard("exec", a, "cat", "/etc/resolv.conf").stdout
        assert "nameserver 127.0.0.11" in resolv and "ndots:0" in resolv
        p = daemon.dockyard("exec", a, "ping", "-c1", "-W2", f"{mynet}-a")
        assert p.returncode == 0, p.stdout + p.stderr
        p = daemon.dockyard("network", "connect", mynet, b)
        assert p.returncode == 0, p.stderr
        info = inspect(daemon, b)
        assert ip_on(info, mynet).startswith(prefix)
        p = daemon.dockyard("exec", a, "ping", "-c1", "-W2", f"{mynet}-b")
        assert p.returncode == 0, p.stdout + p.stderr
        links = daemon.dockyard("exec", b, "ip", "-o", "addr").stdout
        assert "eth1" in links and prefix in links
        status, doc = daemon.api("GET", f"/networks/{mynet}")
        assert set(doc["Containers"]) == {a, b}
        p = daemon.dockyard("network", "disconnect", mynet, b)
        assert p.returncode == 0, p.stderr
        assert "eth1" not in daemon.dockyard("exec", b, "ip", "-o", "addr").stdout
        p = daemon.dockyard("exec", a, "nslookup", f"{mynet}-b", "127.0.0.11")
        assert p.returncode != 0
    finally:
        rm(daemon, a, b)


def test_errors(daemon: Daemon, mynet: str) -> None:
    """N5 bad input: Docker's statuses and wording, nothing created."""
    sub = subnet_of(daemon, mynet)
    status, out = daemon.api("POST", "/networks/create", {"Name": mynet})
    assert status == 409 and out["message"] == f"network with name {mynet} already exists"
    status, out = daemon.api("POST", "/networks/create", {
        "Name": "x-overlap", "IPAM": {"Config": [{"Subnet": sub}]}})  # fmt: skip
    assert status == 403 and "overlaps" in out["message"]
    status, out = daemon.api("POST", "/networks/create", {
        "Name": "x-bad", "IPAM": {"Config": [{"Subnet": "10.300.0.0/24"}]}})  # fmt: skip
    assert status == 400 and "invalid CIDR address" in out["message"]
    status, out = daemon.api("POST", "/networks/create", {
        "Name": "x-gw", "IPAM": {"Config": [{"Subnet": "10.99.99.0/24",
                                            "Gateway": "10.98.0.1"}]}})  # fmt: skip
    assert status == 400 and "does not belong to subnet" in out["message"]
    for name in ("bridge", "host", "none"):
        status, out = daemon.api("DELETE", f"/networks/{name}")
        assert status == 403 and "pre-defined" in out["message"]
    status, _ = daemon.api("GET", "/networks/x-gw")
    assert status == 404
    c = run(daemon, "--network", mynet, "busybox", "sleep", "300")
    try:
        status, out = daemon.api("DELETE", f"/networks/{mynet}")
        assert status == 409 and "has active endpoints" in out["message"]
        p = daemon.dockyard("network", "connect", mynet, c)
        assert p.returncode != 0 and "already exists in network" in p.stderr
        p = daemon.dockyard("network", "disconnect", "bridge", c)
        assert p.returncode != 0 and "is not connected to network bridge" in p.stderr
        p = daemon.dockyard("run", "--rm", "--ip", "10.1.2.3", "busybox", "true")
        assert p.returncode != 0 and "user defined networks only" in p.stderr
    finally:
        rm(daemon, c)


def test_isolation_and_internal(daemon: Daemon) -> None:
    """N5: two user networks cannot reach each other unless a container is on both; an
    internal network has no default route."""
    tag = random.randint(0, 1 << 30)
    n1, n2, n3 = f"iso1-{tag}", f"iso2-{tag}", f"int-{tag}"
    make_net(daemon, n1)
    make_net(daemon, n2)
    make_net(daemon, n3, "--internal")
    cs: list[str] = []
    try:
        a = run(daemon, "--network", n1, "busybox", "sleep", "300")
        b = run(daemon, "--network", n2, "busybox", "sleep", "300")
        i = run(daemon, "--network", n3, "busybox", "sleep", "300")
        cs += [a, b, i]
        ip_b = ip_on(inspect(daemon, b), n2)
        p = daemon.dockyard("exec", a, "ping", "-c1", "-W1", ip_b)
        assert p.returncode != 0, "isolation broken"
        assert daemon.dockyard("network", "connect", n2, a).returncode == 0
        p = daemon.dockyard("exec", a, "ping", "-c1", "-W2", ip_b)
        assert p.returncode == 0, p.stdout
        routes = daemon.dockyard("exec", i, "ip", "route").stdout
        assert "default" not in routes
        status, doc = daemon.api("GET", f"/networks/{n3}")
        assert doc["Internal"] is True
    finally:
        rm(daemon, *cs)
        net_rm(daemon, n1, n2, n3)


def test_restart_keeps_address_and_aliases(daemon: Daemon, mynet: str) -> None:
    """N5: the address survives stop/start; aliases resolve; PTR answers the name."""
    web = run(daemon, "--name", f"{mynet}-web", "--network", mynet, "--network-alias", "svc",
              "busybox", "sleep", "300")  # fmt: skip
    other = run(daemon, "--network", mynet, "busybox", "sleep", "300")
    try:
        before = ip_on(inspect(daemon, web), mynet)
        kept = ip_on(inspect(daemon, other), mynet)
        assert daemon.dockyard("stop", "-t", "0", web, other).returncode == 0
        # `other` comes back first: the lowest free address would be web's, yet it keeps its own
        assert daemon.dockyard("start", other).returncode == 0
        assert daemon.dockyard("start", web).returncode == 0
        assert ip_on(inspect(daemon, other), mynet) == kept
        assert ip_on(inspect(daemon, web), mynet) == before
        out = daemon.dockyard("exec", other, "nslookup", "svc", "127.0.0.11").stdout
        assert before in out, out
        out = daemon.dockyard("exec", other, "nslookup", before, "127.0.0.11").stdout
        assert f"{mynet}-web" in out, out
    finally:
        rm(daemon, web, other)


def test_concurrent_creates_one_wins(daemon: Daemon) -> None:
    """N5: concurrent creates of one name: exactly one 201, the others 409."""
    name = f"race{random.randint(0, 1 << 30)}"
    codes: list[int] = []

    def go() -> None:
        status, _ = daemon.api("POST", "/networks/create", {"Name": name})
        codes.append(status)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(codes) == [201] + [409] * 5, codes
    finally:
        net_rm(daemon, name)


def test_ls_filters_and_prune(daemon: Daemon) -> None:
    """N5: ls filters by label/type; prune removes unused custom networks only."""
    tag = random.randint(0, 1 << 30)
    name = f"pr-{tag}"
    make_net(daemon, name, "--label", f"t={tag}", subnet=False)
    out = daemon.dockyard("network", "ls", "-q", "--filter", f"label=t={tag}").stdout.split()
    assert len(out) == 1
    out = daemon.dockyard("network", "ls", "--format", "{{.Name}}", "--filter",
                          "type=custom").stdout.split()  # fmt: skip
    assert name in out and "bridge" not in out
    p = daemon.dockyard("network", "prune", "-f", "--filter", f"label=t={tag}")
    assert p.returncode == 0 and name in p.stdout
    status, _ = daemon.api("GET", f"/networks/{name}")
    assert status == 404


def test_connect_stopped_then_start(daemon: Daemon, mynet: str) -> None:
    """N5: connect on a created container is remembered; start attaches eth1 with --ip and
    the embedded DNS becomes its resolver."""
    prefix = subnet_of(daemon, mynet).rsplit(".", 1)[0]
    p = daemon.dockyard("create", "busybox", "sleep", "300")
    assert p.returncode == 0, p.stderr
    c = p.stdout.strip()
    try:
        p = daemon.dockyard("network", "connect", "--ip", f"{prefix}.77", mynet, c)
        assert p.returncode == 0, p.stderr
        status, doc = daemon.api("GET", f"/networks/{mynet}")
        assert doc["Containers"] == {}
        assert daemon.dockyard("start", c).returncode == 0
        assert ip_on(inspect(daemon, c), mynet) == f"{prefix}.77"
        addrs = daemon.dockyard("exec", c, "ip", "-o", "addr").stdout
        assert "eth1" in addrs and f"{prefix}.77/24" in addrs, addrs
        resolv = daemon.dockyard("exec", c, "cat", "/etc/resolv.conf").stdout
        assert "nameserver 127.0.0.11" in resolv
    finally:
        rm(daemon, c)


def test_prune_until_and_label_not(daemon: Daemon) -> None:
    """N5: prune's until (duration, RFC 3339, unix time) and label! as dockerd 20.10; bad
    filters are refused with its wording and remove nothing."""
    tag = random.randint(0, 1 << 30)
    one, two = f"pu1-{tag}", f"pu2-{tag}"
    make_net(daemon, one, "--label", f"pu={tag}", "--label", "k=1", subnet=False)
    make_net(daemon, two, "--label", f"pu={tag}", "--label", "k=2", subnet=False)
    try:
        for bad, message in [("foo=bar", "Invalid filter 'foo'"),
                             ("until=xyz", 'failed to parse value as time or duration: "xyz"')]:  # fmt: skip
            p = daemon.dockyard("network", "prune", "-f", "--filter", bad)
            assert p.returncode != 0 and message in p.stderr, p.stderr
        p = daemon.dockyard("network", "prune", "-f", "--filter", "until=1s", "--filter",
                            "until=2s")  # fmt: skip
        assert "more than one until filter specified" in p.stderr
        for until in ("1h", "2000-01-01T00:00:00Z", "946684800"):
            p = daemon.dockyard("network", "prune", "-f", "--filter", f"until={until}",
                                "--filter", f"label=pu={tag}")  # fmt: skip
            assert p.returncode == 0 and p.stdout.strip() == "", (until, p.stdout)
        p = daemon.dockyard("network", "prune", "-f", "--filter", "until=0s", "--filter",
                            f"label=pu={tag}", "--filter", "label!=k=1")  # fmt: skip
        assert p.returncode == 0 and two in p.stdout and one not in p.stdout, p.stdout
        status, _ = daemon.api("GET", f"/networks/{one}")
        assert status == 200
        query = '{"until":["4102444800"],"label":["pu=' + str(tag) + '"]}'
        status, body = daemon.api("POST", f"/networks/prune?filters={query}")
        assert status == 200 and body["NetworksDeleted"] == [one], body
    finally:
        net_rm(daemon, one, two)
