"""The embedded DNS at 127.0.0.11 (N5): answers from inside a container's netns, under load,
garbage-proof, forwarding to a resolver the test runs on loopback (TCP on truncation), never
forwarding for internal networks, names there the moment start returns."""

from __future__ import annotations

import os
import random
import signal
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from dockyard.network import netns
from tests.conftest import Daemon
from tests.integration.network_helpers import inspect, rm, run
from tests.integration.test_live_restore import own_daemon  # noqa: F401 - a fixture
from tests.integration.test_network_user import ip_on, make_net, net_rm, temp_net

pytestmark = pytest.mark.integration


def sandbox(d: Daemon, cid: str) -> Path:
    return Path(inspect(d, cid)["NetworkSettings"]["SandboxKey"])


def in_netns(path: Path, fn: object) -> object:
    out: list[object] = []
    netns.run_inside(path, lambda: out.append(fn()))  # type: ignore[operator]
    return out[0]


def ask(sock: socket.socket, name: str, qtype: str = "A") -> DNSRecord:
    q = DNSRecord.question(name, qtype)
    sock.sendto(q.pack(), ("127.0.0.11", 53))
    while True:
        data, _ = sock.recvfrom(4096)
        reply = DNSRecord.parse(data)
        if reply.header.id == q.header.id:
            return reply


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    return s


@pytest.fixture
def net(daemon: Daemon) -> Iterator[str]:
    with temp_net(daemon, "dns") as name:
        yield name


def test_names_at_start_aaaa_ptr_garbage(daemon: Daemon, net: str) -> None:
    """N5: a name resolves the moment start returns; AAAA is empty; garbage is dropped."""
    asker = run(daemon, "--network", net, "busybox", "sleep", "300")
    path = sandbox(daemon, asker)
    target = run(daemon, "--name", f"{net}-t", "--hostname", "th", "--network", net,
                 "--network-alias", "al", "busybox", "sleep", "300")  # fmt: skip
    ip = ip_on(inspect(daemon, target), net)

    def check() -> list[str]:
        s = udp()
        s.sendto(os.urandom(40), ("127.0.0.11", 53))
        s.sendto(b"\x00", ("127.0.0.11", 53))
        out = [str(ask(s, n).a.rdata) for n in (f"{net}-t", "al", target[:12], "th")]
        assert ask(s, f"{net}-t", "AAAA").rr == []
        rev = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
        out.append(str(ask(s, rev, "PTR").a.rdata))
        s.close()
        return out

    got = in_netns(path, check)
    assert got == [ip, ip, ip, ip, f"{net}-t.{net}."]
    rm(daemon, target)
    s_out = in_netns(path, lambda: ask(udp(), f"{net}-t").header.rcode)
    assert s_out != 0  # gone with its container


def test_thousand_queries_none_lost(daemon: Daemon, net: str) -> None:
    """N5: 1,000 queries from one container, every one answered."""
    asker = run(daemon, "--name", f"{net}-q", "--network", net, "busybox", "sleep", "300")

    def load() -> tuple[int, float]:
        s = udp()
        ok = 0
        t0 = time.monotonic()
        for _ in range(1000):
            if ask(s, f"{net}-q").rr:
                ok += 1
        s.close()
        return ok, time.monotonic() - t0

    ok, took = in_netns(sandbox(daemon, asker), load)  # type: ignore[misc]
    assert ok == 1000, ok
    print(f"1000 lookups in {took:.3f}s")


class _Fake(socketserver.BaseRequestHandler):
    seen: list[str] = []

    def reply(self, data: bytes, tcp: bool) -> bytes:
        q = DNSRecord.parse(data)
        _Fake.seen.append(f"{'tcp' if tcp else 'udp'}:{q.q.qname}")
        r = q.reply()
        if str(q.q.qname).startswith("big") and not tcp:
            r.header.tc = 1
        else:
            r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("10.9.9.9"), ttl=5))
        return bytes(r.pack())

    def handle(self) -> None:
        if isinstance(self.request, tuple):
            data, sock = self.request
            sock.sendto(self.reply(data, False), self.client_address)
        else:
            n = struct.unpack("!H", self.request.recv(2))[0]
            out = self.reply(self.request.recv(n), True)
            self.request.sendall(struct.pack("!H", len(out)) + out)


@pytest.fixture
def upstream() -> Iterator[str]:
    addr = f"127.{random.randint(60, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"
    servers = [socketserver.ThreadingUDPServer((addr, 53), _Fake),
               socketserver.ThreadingTCPServer((addr, 53), _Fake)]  # fmt: skip
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    _Fake.seen = []
    yield addr
    for s in servers:
        s.shutdown()
        s.server_close()


def test_forwarding_tcp_fallback_and_internal(daemon: Daemon, net: str, upstream: str) -> None:
    """N5: unknown names go to the external server (loopback, from the host side), TCP on
    truncation; an internal network never forwards."""
    c = run(daemon, "--dns", upstream, "--network", net, "busybox", "sleep", "300")
    resolv = daemon.dockyard("exec", c, "cat", "/etc/resolv.conf").stdout
    assert f"host({upstream})" in resolv
    res = in_netns(sandbox(daemon, c), lambda: [str(ask(udp(), n).a.rdata) for n in
                                               ("up.test", "big.test")])  # fmt: skip
    assert res == ["10.9.9.9", "10.9.9.9"]
    assert "tcp:big.test." in _Fake.seen and "udp:up.test." in _Fake.seen
    internal = f"{net}-int"
    make_net(daemon, internal, "--internal")
    try:
        i = run(daemon, "--dns", upstream, "--network", internal, "busybox", "sleep", "300")
        _Fake.seen = []
        code = in_netns(sandbox(daemon, i), lambda: ask(udp(), "leak.test").header.rcode)
        assert code == 3 and _Fake.seen == []
        rm(daemon, i)
    finally:
        net_rm(daemon, internal)


def test_daemon_restart_serves_names_again(own_daemon: Daemon) -> None:  # noqa: F811
    """N5 + E4: after a daemon crash, user networks, addresses and names come back."""
    d = own_daemon
    name = f"rs{random.randint(0, 1 << 30)}"
    make_net(d, name)
    try:
        c = run(d, "--name", f"{name}-c", "--network", name, "busybox", "sleep", "300")
        ip = ip_on(inspect(d, c), name)
        d.stop(signal.SIGKILL)
        d.start()
        got = in_netns(sandbox(d, c), lambda: str(ask(udp(), f"{name}-c").a.rdata))
        assert got == ip
        status, doc = d.api("GET", f"/networks/{name}")
        assert status == 200 and list(doc["Containers"]) == [c]
        rm(d, c)
    finally:
        net_rm(d, name)
