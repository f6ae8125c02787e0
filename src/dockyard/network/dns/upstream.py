"""Forwarding to the external servers: from the host's network namespace (the daemon's own
sockets), so loopback resolvers such as 127.0.0.53 work. UDP with a short timeout per server,
TCP when the answer came back truncated."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

TIMEOUT = 2.0
MAX_SERVERS = 3


def host_servers(text: str | None = None) -> list[str]:
    if text is None:
        try:
            text = Path("/etc/resolv.conf").read_text()
        except OSError:
            return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
            out.append(parts[1])
    return out


class _Once(asyncio.DatagramProtocol):
    def __init__(self, done: asyncio.Future[bytes]) -> None:
        self.done = done

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def _udp(server: str, query: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Once(done), remote_addr=(server, 53)
    )
    try:
        transport.sendto(query)
        return await asyncio.wait_for(done, TIMEOUT)
    finally:
        transport.close()


async def _tcp(server: str, query: bytes) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(server, 53), TIMEOUT)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TIMEOUT))[0]
        return await asyncio.wait_for(reader.readexactly(size), TIMEOUT)
    finally:
        writer.close()


def _truncated(reply: bytes) -> bool:
    return len(reply) >= 4 and bool(reply[2] & 0x02)


async def forward(servers: list[str], query: bytes, tcp: bool) -> bytes | None:
    """The first server's answer (its id is the client's: we send the query unchanged)."""
    for server in servers[:MAX_SERVERS]:
        try:
            if tcp:
                return await _tcp(server, query)
            reply = await _udp(server, query)
            if _truncated(reply):
                try:
                    return await _tcp(server, query)
                except (TimeoutError, OSError, asyncio.IncompleteReadError):
                    return reply
            return reply
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            continue
    return None
