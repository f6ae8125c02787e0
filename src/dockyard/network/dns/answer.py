"""Packets (dnslib): parse a question, answer it from the name table, or say it must be
forwarded. Garbage is dropped (None), never answered."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSError, DNSRecord

from dockyard.network.dns.names import NameTable, ptr_address

TTL = 600
UDP_LIMIT = 512


@dataclass(frozen=True)
class Verdict:
    reply: bytes | None  # the local answer
    forward: bool = False  # ask the upstream servers (reply is then the fallback SERVFAIL)


def _limit(request: DNSRecord) -> int:
    """512, or the client's EDNS buffer size."""
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(UDP_LIMIT, int(rr.rclass))
    return UDP_LIMIT


def parse(data: bytes) -> DNSRecord | None:
    try:
        request = DNSRecord.parse(data)
    except (DNSError, Exception):  # noqa: BLE001 - dnslib raises assorted errors on garbage
        return None
    if request.header.qr or len(request.questions) != 1:
        return None
    return request


def _reply(request: DNSRecord) -> DNSRecord:
    """dockerd's reply header: QR, the query's RD echoed, RA; never AA (clients such as
    nslookup then say "Non-authoritative answer", as on dockerd)."""
    return request.reply(ra=1, aa=0)


def answer(request: DNSRecord, table: NameTable, asker: str, udp: bool) -> Verdict:
    q = request.q
    name = str(q.qname)
    reply = _reply(request)
    if q.qtype in (QTYPE.A, QTYPE.AAAA, QTYPE.ANY):
        found = table.lookup(asker, name)
        if found is not None:
            for version, qtype, rdata in ((4, QTYPE.A, A), (6, QTYPE.AAAA, AAAA)):
                if q.qtype not in (qtype, QTYPE.ANY):
                    continue
                ips = [ip for ip in found if ip.version == version]
                random.shuffle(ips)  # Docker shuffles: a poor man's round robin
                for ip in ips:
                    reply.add_answer(RR(q.qname, qtype, rdata=rdata(str(ip)), ttl=TTL))
            return Verdict(_pack(reply, request, udp))
    elif q.qtype == QTYPE.PTR:
        addr = ptr_address(name)
        target = table.reverse(asker, addr) if addr is not None else None
        if target is not None:
            reply.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(target + "."), ttl=TTL))
            return Verdict(_pack(reply, request, udp))
    elif table.lookup(asker, name) is not None:
        return Verdict(_pack(reply, request, udp))  # a known name: empty NOERROR
    if table.may_forward(asker):
        fail = _reply(request)
        fail.header.rcode = RCODE.SERVFAIL
        return Verdict(fail.pack(), forward=True)
    refused = _reply(request)
    refused.header.rcode = RCODE.NXDOMAIN
    return Verdict(refused.pack())


def fast(data: bytes, table: NameTable, asker: str) -> bytes | None:
    """The common case without dnslib (its parse costs more than everything else): one plain
    A/AAAA question for a name we know, no EDNS. None: take the general path."""
    if len(data) < 17:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    if flags & 0xF800 or qd != 1 or an or ns or ar:  # a response, another opcode, extras
        return None
    labels = []
    pos = 12
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        if n == 0:
            break
        if n & 0xC0:
            return None
        labels.append(data[pos + 1 : pos + 1 + n])
        pos += 1 + n
    end = pos + 5
    if end != len(data):
        return None
    qtype, qclass = struct.unpack_from("!HH", data, pos + 1)
    if qclass != 1 or qtype not in (1, 28):
        return None
    try:
        name = b".".join(labels).decode("ascii")
    except UnicodeDecodeError:
        return None
    found = table.lookup(asker, name)
    if found is None:
        return None
    version, size = (6, 16) if qtype == 28 else (4, 4)
    ips = [ip for ip in found if ip.version == version]
    if len(ips) > 1:
        random.shuffle(ips)
    head = struct.pack("!HHHHHH", qid, 0x8080 | (flags & 0x0100), 1, len(ips), 0, 0)
    answers = b"".join(struct.pack("!HHHIH", 0xC00C, qtype, 1, TTL, size) + ip.packed for ip in ips)
    return head + data[12:end] + answers


def _pack(reply: DNSRecord, request: DNSRecord, udp: bool) -> bytes:
    data: bytes = reply.pack()
    if udp and len(data) > _limit(request):
        reply.rr = []
        reply.header.tc = 1
        data = reply.pack()
    return data


__all__ = ["AAAA", "Verdict", "answer", "parse"]
