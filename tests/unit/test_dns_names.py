"""Embedded DNS logic (N5), pure: scoping, answers, PTR, forwarding decisions, garbage,
resolv.conf for user networks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from dnslib import QTYPE, RCODE, DNSRecord

from dockyard.network import resolv
from dockyard.network.dns import answer, upstream
from dockyard.network.dns.names import Entry, NameTable, ptr_address


def table() -> NameTable:
    t = NameTable()
    t.add(Entry("a", "n1", IPv4Address("10.0.0.2"), ("a.n1", "a", "web")))
    t.add(Entry("b", "n1", IPv4Address("10.0.0.3"), ("b.n1", "b")))
    t.add(Entry("c", "n2", IPv4Address("10.1.0.2"), ("c.n2", "c")), internal=True)
    return t


def test_scoped_to_askers_networks() -> None:
    """N5: only names on the asker's networks; case and trailing dot ignored."""
    t = table()
    assert t.lookup("b", "WEB.") == [IPv4Address("10.0.0.2")]
    assert t.lookup("b", "c") is None
    assert t.lookup("c", "a") is None
    assert t.reverse("b", IPv4Address("10.0.0.2")) == "a.n1"
    t.remove("a")
    assert t.lookup("b", "web") is None


def test_endpoint_links_are_the_linking_containers_own_names() -> None:
    """#16: an endpoint link (target, alias) resolves for its container only, on that
    network, and follows the target: unknown until it registers, gone when it goes."""
    t = NameTable()
    t.add(Entry("x", "n1", IPv4Address("10.0.0.5"), ("x",), (("bar", "up"),)))
    t.add(Entry("y", "n1", IPv4Address("10.0.0.6"), ("y",)))
    t.add(Entry("up", "n2", IPv4Address("10.1.0.7"), ("up",)))  # not on the link's network
    assert t.lookup("x", "bar") is None
    t.add(Entry("up", "n1", IPv4Address("10.0.0.7"), ("up",)))
    assert t.lookup("x", "BAR") == [IPv4Address("10.0.0.7")]
    assert t.lookup("y", "bar") is None
    t.remove("up")
    assert t.lookup("x", "bar") is None


def test_forwarding_policy() -> None:
    """N5: internal-only containers never forward."""
    t = table()
    assert t.may_forward("a") and not t.may_forward("c")


def reply(t: NameTable, asker: str, name: str, qtype: str) -> answer.Verdict:
    req = answer.parse(DNSRecord.question(name, qtype).pack())
    assert req is not None
    return answer.answer(req, t, asker, udp=True)


def test_answers() -> None:
    t = table()
    v = reply(t, "b", "a", "A")
    assert v.reply and str(DNSRecord.parse(v.reply).a.rdata) == "10.0.0.2"
    v = reply(t, "b", "a", "AAAA")
    assert v.reply and DNSRecord.parse(v.reply).rr == [] and not v.forward
    v = reply(t, "b", "2.0.0.10.in-addr.arpa", "PTR")
    assert v.reply and str(DNSRecord.parse(v.reply).a.rdata) == "a.n1."
    assert reply(t, "b", "example.org", "A").forward
    v = reply(t, "c", "example.org", "A")
    assert not v.forward and v.reply and DNSRecord.parse(v.reply).header.rcode == RCODE.NXDOMAIN


def test_answers_are_not_authoritative() -> None:
    """N5: as dockerd's resolver (#15 compose): RA set, RD echoed, AA never, so busybox's
    nslookup prints "Non-authoritative answer:" on both engines."""
    t = table()
    for name, qtype in (("a", "A"), ("a", "AAAA"), ("2.0.0.10.in-addr.arpa", "PTR"),
                        ("a", "MX"), ("example.org", "A")):  # fmt: skip
        for asker in ("b", "c"):
            v = reply(t, asker, name, qtype)
            assert v.reply is not None
            h = DNSRecord.parse(v.reply).header
            assert (h.qr, h.aa, h.ra, h.rd) == (1, 0, 1, 1), (name, qtype, asker)
    q = DNSRecord.question("web")
    q.header.rd = 0
    fast = answer.fast(q.pack(), t, "b")
    assert fast is not None and fast[2:4] == b"\x80\x80"  # QR, RA; no RD asked, none echoed


def test_garbage_dropped() -> None:
    """N5 bad input: garbage and responses are never answered."""
    assert answer.parse(b"\x00\x01garbage") is None
    assert answer.parse(b"") is None
    resp = DNSRecord.question("a").reply().pack()
    assert answer.parse(resp) is None


def test_ptr_address() -> None:
    assert ptr_address("4.3.2.1.in-addr.arpa.") == IPv4Address("1.2.3.4")
    assert ptr_address("x.in-addr.arpa") is None


def test_embedded_resolv_conf() -> None:
    """N5: 127.0.0.11, ndots:0, host servers as ExtServers (loopback ones via host)."""
    text = resolv.embedded([], [], [], "nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch x\n")
    assert "nameserver 127.0.0.11\n" in text and "options ndots:0" in text
    assert "# ExtServers: [host(127.0.0.53) 10.0.0.1]" in text and "search x" in text
    assert text.count("nameserver") == 1
    assert upstream.host_servers("nameserver 1.2.3.4\nnameserver ::1\n") == ["1.2.3.4"]
    assert QTYPE.A == 1


def test_fast_path_matches_dnslib() -> None:
    """N5: the dnslib-free path answers A/AAAA for known names exactly like the general one,
    and declines everything else."""
    t = table()
    for qtype in ("A", "AAAA"):
        q = DNSRecord.question("WEB", qtype)
        fast = answer.fast(q.pack(), t, "b")
        assert fast is not None
        got, ref = DNSRecord.parse(fast), reply(t, "b", "WEB", qtype)
        assert ref.reply is not None
        want = DNSRecord.parse(ref.reply)
        assert got.header.id == q.header.id and got.header.rcode == 0 and got.header.qr
        assert (got.header.aa, got.header.ra, got.header.rd) == (want.header.aa, 1, 1)
        assert [str(r.rdata) for r in got.rr] == [str(r.rdata) for r in want.rr]
    assert answer.fast(DNSRecord.question("example.org").pack(), t, "b") is None
    assert answer.fast(DNSRecord.question("web", "MX").pack(), t, "b") is None
    assert answer.fast(b"\x00" * 30, t, "b") is None
    assert answer.fast(DNSRecord.question("web").reply().pack(), t, "b") is None


def test_aaaa_answers_for_ipv6_endpoints() -> None:
    """#16 (N3/N5): an endpoint on an IPv6 network answers AAAA with its IPv6 address and A
    with its IPv4 one, on both the fast and the dnslib path; ANY gives both."""
    t = NameTable()
    t.add(Entry("a", "n6", IPv4Address("10.0.0.2"), ("web",), ip6=IPv6Address("fd00::2")))
    t.add(Entry("b", "n6", IPv4Address("10.0.0.3"), ("b",)))
    for qtype, want in (("A", ["10.0.0.2"]), ("AAAA", ["fd00::2"])):
        q = DNSRecord.question("web", qtype)
        fast = answer.fast(q.pack(), t, "b")
        assert fast is not None
        assert [str(r.rdata) for r in DNSRecord.parse(fast).rr] == want
        ref = reply(t, "b", "web", qtype).reply
        assert ref is not None
        assert [str(r.rdata) for r in DNSRecord.parse(ref).rr] == want
    both = reply(t, "b", "web", "ANY").reply
    assert both is not None
    assert sorted(str(r.rdata) for r in DNSRecord.parse(both).rr) == ["10.0.0.2", "fd00::2"]
    none6 = reply(t, "a", "b", "AAAA").reply  # a v4-only endpoint: a known name, no AAAA
    assert none6 is not None
    parsed = DNSRecord.parse(none6)
    assert parsed.header.rcode == RCODE.NOERROR and not parsed.rr


def test_server_caches_answers_per_table_version() -> None:
    """N5: a repeated question is answered from the per-container cache with the asker's id,
    and a name-table change (stop, disconnect) is seen by the very next query."""
    import socket

    from dockyard.network.dns import server

    t = table()
    srv = server.DnsServer(t)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        client.settimeout(2)
        box = server._Sandbox("b", [], udp, tcp)
        proto = server._Udp(srv, box)
        proto.transport = server._Reply(udp)  # type: ignore[assignment]

        def ask(q: DNSRecord) -> DNSRecord | None:
            client.sendto(q.pack(), udp.getsockname())
            srv._readable(box, proto)
            client.settimeout(0.2)
            try:
                return DNSRecord.parse(client.recv(4096))
            except TimeoutError:
                return None

        for _ in range(2):
            q = DNSRecord.question("web")
            r = ask(q)
            assert r is not None and r.header.id == q.header.id
            assert [str(rr.rdata) for rr in r.rr] == ["10.0.0.2"]
        assert len(box.answers) == 1
        client.sendto(b"\x00\x01garbage", udp.getsockname())
        srv._readable(box, proto)
        t.remove("a")
        t.add(Entry("a", "n1", IPv4Address("10.0.0.9"), ("a.n1", "a", "web")))
        r = ask(DNSRecord.question("web"))
        assert r is not None and [str(rr.rdata) for rr in r.rr] == ["10.0.0.9"]
    finally:
        for s in (udp, tcp, client):
            s.close()
