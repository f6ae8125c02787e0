"""The embedded DNS server: per container, a UDP and a TCP socket bound to 127.0.0.11:53
inside its network namespace (opened by a throwaway thread that joined the namespace), all
served by one asyncio loop (the daemon's). Lookups are in-memory; only forwarding awaits I/O,
so the loop never blocks.

Lifecycle:
    bind(loop)              at daemon start
    serve(cid, netns, ext)  at container start/connect, before it returns: the sockets are bound
                            (queries queue in the kernel) before the call returns
    stop(cid)               at stop/disconnect of the last user network: idempotent
    close()                 daemon shutdown
A recycled daemon (recycle.py) hands the sockets over (`hand_over`): its successor `adopt`s
them before it restores, so `serve` finds them open and queries sent meanwhile wait in them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dockyard import fds
from dockyard.network import netns
from dockyard.network.dns import answer, upstream
from dockyard.network.dns.names import NameTable

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
TCP_IDLE = 5.0
CACHED_ANSWERS = 256  # per container; cleared when full (a client asking many distinct names)


@dataclass
class _Sandbox:
    cid: str
    servers: list[str]
    udp: socket.socket
    tcp: socket.socket
    closers: list[Any] = field(default_factory=list)
    # _start() on the loop: serve() does not wait for it (the sockets are bound already, so a
    # query sent meanwhile waits in them); _stop() does
    started: asyncio.Future[None] | concurrent.futures.Future[None] | None = None
    # query (after its id) -> reply (after the id), valid for one name-table version: a
    # repeated question costs a dict lookup instead of a parse
    answers: dict[bytes, bytes] = field(default_factory=dict)
    version: int = -1


def _open_sockets(path: Path) -> tuple[socket.socket, socket.socket]:
    out: list[socket.socket] = []

    def inside() -> None:
        # two per container, for as long as it runs: above the low numbers (fds.py)
        u = fds.lift_socket(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        t = fds.lift_socket(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        try:
            u.bind((ADDRESS, 53))
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((ADDRESS, 53))
            t.listen(128)
        except BaseException:
            u.close()
            t.close()
            raise
        u.setblocking(False)
        t.setblocking(False)
        out.extend((u, t))

    netns.run_inside(path, inside)
    return out[0], out[1]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer, box: _Sandbox) -> None:
        self.server = server
        self.box = box
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        request = answer.parse(data)
        if request is None or self.transport is None:
            return
        verdict = answer.answer(request, self.server.table, self.box.cid, udp=True)
        if not verdict.forward:
            if verdict.reply:
                self.transport.sendto(verdict.reply, addr)
            return
        transport = self.transport

        async def relay() -> None:
            reply = await upstream.forward(self.box.servers, data, tcp=False)
            if not transport.is_closing():
                transport.sendto(reply or verdict.reply or b"", addr)

        self.server.spawn(relay())

    def error_received(self, exc: Exception) -> None:
        log.debug("dns udp error: %s", exc)


class _Reply:
    """The little of a DatagramTransport that _Udp uses, over the raw socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def sendto(self, data: bytes, addr: Any) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError as e:
            log.debug("dns send: %s", e)

    def is_closing(self) -> bool:
        return self.sock.fileno() < 0


def _log_failure(fut: asyncio.Future[None] | concurrent.futures.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("serving DNS: %s", fut.exception())


class _Reader:
    """Closes a socket served by add_reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class DnsServer:
    def __init__(self, table: NameTable) -> None:
        self.table = table
        self.loop: asyncio.AbstractEventLoop | None = None
        self._boxes: dict[str, _Sandbox] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Future[None]] = set()
        self._inherited: dict[str, tuple[socket.socket, socket.socket]] = {}

    def hand_over(self, keep: Callable[[str, int], None]) -> None:
        with self._lock:
            boxes = list(self._boxes.values())
        for box in boxes:
            keep(f"{box.cid}/udp", box.udp.fileno())
            keep(f"{box.cid}/tcp", box.tcp.fileno())

    def adopt(self, fds: dict[str, int]) -> None:
        """The predecessor's sockets, by "CID/udp" and "CID/tcp"; `serve` takes them."""
        for name, fd in fds.items():
            cid, _, kind = name.partition("/")
            if kind == "udp" and f"{cid}/tcp" in fds:
                udp = socket.socket(fileno=fd)
                tcp = socket.socket(fileno=fds[f"{cid}/tcp"])
                udp.setblocking(False)
                tcp.setblocking(False)
                self._inherited[cid] = (udp, tcp)
            elif kind == "udp" or f"{cid}/udp" not in fds:
                os.close(fd)  # half a pair: never served

    def close_inherited(self) -> None:
        """After start-up: sockets of containers that are no longer served."""
        for udp, tcp in self._inherited.values():
            udp.close()
            tcp.close()
        self._inherited.clear()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def spawn(self, coro: Any) -> asyncio.Future[None]:
        task: asyncio.Future[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def serving(self, cid: str) -> bool:
        with self._lock:
            return cid in self._boxes

    def serve(self, cid: str, path: Path, servers: list[str]) -> None:
        """Idempotent. Sockets are bound before this returns; without a loop (unit tests) the
        sockets stay unserved."""
        with self._lock:
            if cid in self._boxes:
                self._boxes[cid].servers = servers
                return
            inherited = self._inherited.pop(cid, None)
        udp, tcp = inherited or _open_sockets(path)
        box = _Sandbox(cid, servers, udp, tcp)
        with self._lock:
            self._boxes[cid] = box
        if self.loop is not None:
            # not waited for (#17, run -d): a failure is logged
            box.started = self._schedule(self._start(box))
            box.started.add_done_callback(_log_failure)

    def stop(self, cid: str) -> None:
        with self._lock:
            box = self._boxes.pop(cid, None)
        if box is None:
            return
        if self.loop is not None and not self.loop.is_closed():
            self._on_loop(self._stop(box))
        else:
            box.udp.close()
            box.tcp.close()

    def close(self) -> None:
        for cid in list(self._boxes):
            self.stop(cid)

    def _on_loop(self, coro: Any) -> None:
        """Run on the daemon's loop; wait for it unless we are that loop's thread."""
        fut = self._schedule(coro)
        if isinstance(fut, concurrent.futures.Future):
            fut.result(timeout=10)

    def _schedule(self, coro: Any) -> asyncio.Future[None] | concurrent.futures.Future[None]:
        """Start `coro` on the daemon's loop: a task when called on that loop's thread."""
        assert self.loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return self.spawn(coro)
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def _start(self, box: _Sandbox) -> None:
        loop = asyncio.get_running_loop()
        # UDP straight off the selector: drain the queued datagrams per wakeup and answer the
        # common case in place (the transport/protocol layers double the per-query cost).
        proto = _Udp(self, box)
        proto.transport = _Reply(box.udp)  # type: ignore[assignment]
        loop.add_reader(box.udp.fileno(), self._readable, box, proto)
        server = await asyncio.start_server(lambda r, w: self._tcp_client(box, r, w), sock=box.tcp)
        box.closers = [_Reader(loop, box.udp), server]

    def _readable(self, box: _Sandbox, proto: _Udp) -> None:
        sock, table, answers = box.udp, self.table, box.answers
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("dns recv: %s", e)
                return
            if box.version != table.version:
                answers.clear()
                box.version = table.version
            key = data[2:]
            cached = answers.get(key)
            if cached is not None:
                reply = data[:2] + cached
            else:
                quick = answer.fast(data, table, box.cid)
                if quick is None:
                    proto.datagram_received(data, addr)
                    continue
                reply = quick
                if quick[7] <= 1:  # one address at most: nothing to shuffle, so reusable
                    if len(answers) >= CACHED_ANSWERS:
                        answers.clear()
                    answers[key] = quick[2:]
            try:
                sock.sendto(reply, addr)
            except OSError as e:
                log.debug("dns send: %s", e)

    async def _stop(self, box: _Sandbox) -> None:
        if box.started is not None:  # its start first, whatever became of it
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(box.started)
        for c in box.closers:
            c.close()
        if not box.closers:
            box.udp.close()
            box.tcp.close()

    async def _tcp_client(
        self, box: _Sandbox, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                data = await reader.readexactly(struct.unpack("!H", head)[0])
                request = answer.parse(data)
                if request is None:
                    break  # garbage on a stream: hang up
                verdict = answer.answer(request, self.table, box.cid, udp=False)
                reply = verdict.reply
                if verdict.forward:
                    reply = await upstream.forward(box.servers, data, tcp=True) or reply
                if reply:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()
