"""Embedded DNS logic (N5), pure: scoping, answers, PTR, forwarding decisions, garbage,
resolv.conf for user networks."""

from __future__ import annotations

from ipaddress import IPv4Address

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
        assert [str(r.rdata) for r in got.rr] == [str(r.rdata) for r in want.rr]
    assert answer.fast(DNSRecord.question("example.org").pack(), t, "b") is None
    assert answer.fast(DNSRecord.question("web", "MX").pack(), t, "b") is None
    assert answer.fast(b"\x00" * 30, t, "b") is None
    assert answer.fast(DNSRecord.question("web").reply().pack(), t, "b") is None
