"""A lean HTTP/1.1 front for small API calls; everything else goes to aiohttp on the same socket.

Why: for `/_ping`, `/version`, `volume create`, `ps` and other one-body answers, aiohttp's own
machinery (request and response objects, payload parser task, writer, signals) was most of the
daemon's time per request -- about twice a bare asyncio protocol's cost (docs/decisions.md
D-api-lean). This protocol parses the request head itself and, when the route is marked `small`
in routes.py and nothing about the request is unusual, runs the very same handler (through the
same router and error mapping) with a `LeanRequest` standing in for `web.Request`, and writes
the answer itself. Anything else -- an upgrade (attach, exec), chunked or large bodies, Expect,
HTTP/1.0, a streaming route, a head it cannot read -- hands the connection, with every byte
already read, to an aiohttp RequestHandler, which then owns it for good.

Lifecycle: `LeanUnixSite` replaces `web.UnixSite`: each accepted connection starts as a
`LeanProtocol`; `handover()` moves it to aiohttp (at most once); `stop()` closes idle lean
connections too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import weakref
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web
from multidict import CIMultiDict, MultiDict, MultiDictProxy
from yarl import URL

from dockyard.api.router import AtOnce, EngineRouter, negotiate

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024  # longer heads are aiohttp's business (it answers 431 etc.)
MAX_BODY = 64 * 1024  # small calls have small bodies; bigger ones stream through aiohttp
KEEPALIVE = 75.0  # seconds an idle kept-alive connection stays open (aiohttp's default)
_EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
_BODYLESS = (204, 304)


class LeanRequest:
    """The part of `web.Request` that `small` handlers, `guarded()` and `engine()` use: method,
    path, match_info, query, headers, read(), app, and per-request state by key."""

    __slots__ = ("method", "path", "match_info", "_query", "headers", "app", "_body", "_state")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: CIMultiDict[str],
        body: bytes,
        app: web.Application,
        match_info: dict[str, str],
    ) -> None:
        self.method = method
        self.path = path
        self._query = query
        self.headers = headers
        self._body = body
        self.app = app
        self.match_info = match_info
        self._state: dict[Any, Any] = {}

    @property
    def query(self) -> MultiDictProxy[str]:
        # yarl decodes exactly as aiohttp's request.query does ('+' and %-escapes)
        return (
            URL.build(query_string=self._query, encoded=True).query if self._query else _EMPTY_QUERY
        )

    @property
    def query_string(self) -> str:
        return self._query

    async def read(self) -> bytes:
        return self._body

    def __setitem__(self, key: Any, value: Any) -> None:
        self._state[key] = value

    def __getitem__(self, key: Any) -> Any:
        return self._state[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._state.get(key, default)


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def encode_response(
    response: web.Response, common: dict[str, str], head_only: bool, close: bool
) -> bytes:
    """The bytes aiohttp would send for `response` (header order aside)."""
    status = response.status
    headers = CIMultiDict(response.headers)
    for key, value in common.items():
        headers.setdefault(key, value)
    body = response.body
    data = body if isinstance(body, bytes) else b""
    if status in _BODYLESS:
        data = b""
        headers.popall("Content-Length", None)
    else:
        headers["Content-Length"] = str(len(data))
    headers["Date"] = _http_date()
    if close:
        headers["Connection"] = "close"
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only else out + data


def json_ok_head(common: dict[str, str]) -> bytes:
    """The start of encode_response() of `web.Response(body=..., content_type=
    "application/json")`: its status line, Content-Type and the common headers."""
    lines = ["HTTP/1.1 200 OK", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in common.items()]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def encode_json_ok(head: bytes, body: bytes, close: bool) -> bytes:
    """An at-once answer (routes.py): `head` (json_ok_head), then what encode_response() adds."""
    tail = "Connection: close\r\n\r\n" if close else "\r\n"
    return b"".join((head, b"Content-Length: %d\r\nDate: " % len(body),
                     f"{_http_date()}\r\n{tail}".encode("latin-1"), body))  # fmt: skip


class LeanProtocol(asyncio.Protocol):
    def __init__(self, site: LeanUnixSite) -> None:
        self.site = site
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.idle: asyncio.TimerHandle | None = None
        self.idle_since = 0.0  # loop time of the last request's end; 0 while one is served
        self.loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.loop = asyncio.get_running_loop()
        self.site.connections.add(self)
        self.site.accepted += 1
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.site.connections.discard(self)
        self.transport = None
        self._stop_idle()
        if self.task is not None:
            self.task.cancel()  # a client that hung up stops its handler (handler_cancellation)

    def data_received(self, data: bytes) -> None:
        self.idle_since = 0.0  # busy: the idle timer, when it fires, looks again later
        self.buf += data
        if self.task is None:
            self._next()
        if self.task is None and self.transport is not None:
            self._arm_idle()

    def _arm_idle(self) -> None:
        """Close a connection that sends nothing for KEEPALIVE seconds, as aiohttp would. One
        timer per connection, moved on lazily when it fires: a request costs no timer."""
        loop = self.loop
        assert loop is not None
        self.idle_since = loop.time()
        if self.idle is None:
            self.idle = loop.call_at(self.idle_since + KEEPALIVE, self._idle_check)

    def _stop_idle(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None

    def _idle_check(self) -> None:
        self.idle = None
        if self.task is not None or self.transport is None:
            return
        if self.idle_since == 0.0:  # a request is on its way in
            self._arm_idle()
            return
        due = self.idle_since + KEEPALIVE
        assert self.loop is not None
        if due > self.loop.time():
            self.idle = self.loop.call_at(due, self._idle_check)
            return
        self.closing = True
        self.transport.close()

    def eof_received(self) -> bool | None:
        return None  # close our half too

    def _next(self) -> None:
        """Serve the complete requests in the buffer: those answered at once here, then the
        next in a task; or hand the connection over."""
        while self._serve_one():
            pass

    def _serve_one(self) -> bool:
        """One request served, or started in a task, or the connection handed over; True when
        it was answered at once and the buffer may hold another."""
        if self.transport is None or self.closing:
            return False
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self.handover()
            return False
        parsed = self._parse(bytes(self.buf[:end]))
        if parsed is None:
            self.handover()
            return False
        method, target, headers, length = parsed
        if len(self.buf) < end + 4 + length:
            return False  # the rest of the body is on its way
        raw_path, _, query = target.partition("?")
        path = safe = raw_path
        if "%" in raw_path:  # decoded as aiohttp does: path for handlers, path_safe for routing
            url = URL.build(path=raw_path, encoded=True)
            path, safe = url.path, url.path_safe
        router = self.site.router
        found = router.match(method, safe)
        if found is None or found[0] not in router.small:
            self.handover()
            return False
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        route, params = found
        request = LeanRequest(method, path, query, headers, body, self.site.app, params)
        close = "close" in headers.get("Connection", "").lower()
        at_once = router.at_once.get(route)
        answer = self._at_once(at_once, request) if at_once is not None else None
        if answer is not None:
            self.transport.write(encode_json_ok(self.site.json_ok_head, answer, close))
            if close:
                self.closing = True
                self.transport.close()
            return True
        self.task = asyncio.get_running_loop().create_task(
            self._serve(route.handler, request, method == "HEAD", close)
        )
        return False

    @staticmethod
    def _at_once(at_once: AtOnce, request: LeanRequest) -> bytes | None:
        """The route's at-once answer; None sends the request down the handler's path, which
        also answers a bad API version and every error."""
        try:
            negotiate(request.match_info.get("version"))
            return at_once(cast(web.Request, request))
        except Exception:  # noqa: BLE001 - the handler's path answers it properly
            return None

    @staticmethod
    def _parse(head: bytes) -> tuple[str, str, CIMultiDict[str], int] | None:
        try:
            text = head.decode("latin-1")
            request_line, *lines = text.split("\r\n")
            method, target, version = request_line.split(" ")
            if version != "HTTP/1.1" or not target.startswith("/"):
                return None
            if not (target.isascii() and target.isprintable()) or "#" in target:
                return None  # raw bytes or fragments: aiohttp's (yarl's) decoding rules
            headers: CIMultiDict[str] = CIMultiDict()
            for line in lines:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    return None
                headers.add(name, value.strip())
            if "Host" not in headers:  # aiohttp refuses such HTTP/1.1 requests: let it say so
                return None
            if "Transfer-Encoding" in headers or "Upgrade" in headers or "Expect" in headers:
                return None
            lengths = headers.getall("Content-Length", ["0"])
            if len(lengths) != 1 or not lengths[0].isdigit():
                return None
            length = int(lengths[0])
        except (UnicodeError, ValueError):
            return None
        if length > MAX_BODY:
            return None
        return method, target, headers, length

    async def _serve(
        self, handler: Any, request: LeanRequest, head_only: bool, close: bool
    ) -> None:
        try:
            response = await handler(request)  # guarded(): errors are answers already
            transport = self.transport
            if transport is None:
                return
            transport.write(encode_response(response, self.site.common_headers, head_only, close))
            if close:
                self.closing = True
                transport.close()
        except asyncio.CancelledError:
            return  # the client hung up
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            self.closing = True
            if self.transport is not None:
                self.transport.close()
            return
        finally:
            self.task = None
        if self.buf:
            self._next()
        if self.task is None and self.transport is not None:
            self._arm_idle()

    def handover(self) -> None:
        """Give the connection, and what it has sent so far, to aiohttp for good."""
        transport, data = self.transport, bytes(self.buf)
        if transport is None:
            return
        self.site.connections.discard(self)
        self._stop_idle()
        self.transport, self.buf = None, bytearray()
        server = self.site.aiohttp_server()
        protocol = server()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if data:
            protocol.data_received(data)


class LeanUnixSite(web.UnixSite):
    """`web.UnixSite` whose connections start lean (see the module docstring)."""

    def __init__(
        self,
        runner: web.AppRunner,
        path: str,
        common_headers: dict[str, str],
        sock: socket.socket | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(runner, path, **kwargs)
        self.sock = sock  # a listening socket handed over by a recycled daemon (recycle.py)
        self.accepted = 0  # connections accepted so far
        self.app = runner.app
        router = self.app.router
        assert isinstance(router, EngineRouter)
        self.router = router
        self.common_headers = common_headers
        self.json_ok_head = json_ok_head(common_headers)
        self.connections: weakref.WeakSet[LeanProtocol] = weakref.WeakSet()

    def aiohttp_server(self) -> Any:
        server = self._runner.server
        assert server is not None
        return server

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        if self.sock is not None:
            self._server = await loop.create_unix_server(
                lambda: LeanProtocol(self), sock=self.sock, backlog=self._backlog
            )
        else:
            self._server = await loop.create_unix_server(
                lambda: LeanProtocol(self), str(self._path), backlog=self._backlog
            )

    def clients(self) -> tuple[int, int]:
        """(connections open now, lean or handed to aiohttp; connections accepted so far)"""
        return len(self.connections) + len(self.aiohttp_server().connections), self.accepted

    def listening_fd(self) -> int:
        server = cast(asyncio.Server, self._server)
        return int(server.sockets[0].fileno())

    def stop_accepting(self) -> None:
        """Synchronously: no connection is accepted after this returns (a recycle's freeze)."""
        if self._server is not None:
            self._server.close()

    async def stop(self) -> None:
        await super().stop()
        for conn in list(self.connections):
            if conn.transport is not None:
                with contextlib.suppress(Exception):
                    conn.transport.close()
