"""E1: the lean HTTP front (api/lean.py) answers small calls byte-for-byte as aiohttp did, hands
everything else to aiohttp on the same connection, and keeps HTTP/1.1 semantics (keep-alive,
pipelining, split bodies, Connection: close)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.lean import LeanProtocol
from dockyard.errors import NotFound
from tests.unit.api_fakes import CID, FakeEngine, ServerThread


@dataclass
class FakeVolumes:
    created: list[Any] = field(default_factory=list)

    def create_nowait(self, body: Any) -> Any:
        self.created.append(body)
        return {"Name": body.get("Name"), "Driver": "local"}

    def inspect(self, name: str) -> Any:
        raise NotFound(f"get {name}: no such volume")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    engine = FakeEngine()
    engine.volumes = FakeVolumes()  # type: ignore[attr-defined]
    srv = ServerThread(engine, tmp_path / "api.sock").start()
    yield srv
    srv.stop()


def _read_response(s: socket.socket, buf: bytearray) -> tuple[bytes, dict[str, str], bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed before a full answer"
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[: end + 4]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
    n = int(headers.get("content-length", "0"))
    if head[0].startswith("HTTP/1.1 204") or "HEAD-REQUEST" in headers:
        n = 0
    while len(buf) < n:
        buf += s.recv(65536)
    body = bytes(buf[:n])
    del buf[:n]
    return head[0].encode(), headers, body


def _exchange(
    srv: ServerThread, raw: bytes, head_only: bool = False
) -> tuple[bytes, dict[str, str], bytes]:
    s = srv.connect()
    try:
        s.sendall(raw)
        buf = bytearray()
        if head_only:
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
            hdrs = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
            return head[0].encode(), hdrs, data.split(b"\r\n\r\n", 1)[1]
        return _read_response(s, buf)
    finally:
        s.close()


SMALL = [
    b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n",
    b"GET /v1.41/version HTTP/1.1\r\nHost: d\r\n\r\n",
    b"GET /v1.99/version HTTP/1.1\r\nHost: d\r\n\r\n",
    b"GET /v1.44/containers/json?all=1&limit=3 HTTP/1.1\r\nHost: d\r\n\r\n",
    f"GET /containers/{CID}/json HTTP/1.1\r\nHost: d\r\n\r\n".encode(),
    b"GET /containers/missing/json HTTP/1.1\r\nHost: d\r\n\r\n",
    b"GET /v1.41/volumes/nope HTTP/1.1\r\nHost: d\r\n\r\n",
    b'POST /volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"Name":"a"}',
    b"POST /volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n[1,2]",
    b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\n\r\n",  # no Host: aiohttp's 400, whoever parses it
]


@pytest.mark.parametrize("raw", SMALL, ids=lambda r: r.split(b"\r\n")[0].decode())
def test_small_answers_are_aiohttps(
    server: ServerThread, raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E1: status line, headers (all but Date) and body are what aiohttp itself sends."""
    lean = _exchange(server, raw)
    monkeypatch.setattr(LeanProtocol, "_next", LeanProtocol.handover)  # everything via aiohttp
    reference = _exchange(server, raw)
    assert lean[0] == reference[0]
    assert {k: v for k, v in lean[1].items() if k != "date"} == {
        k: v for k, v in reference[1].items() if k != "date"
    }
    assert lean[1]["date"].endswith(" GMT")
    assert lean[2] == reference[2]


def test_head_ping_has_headers_and_no_body(server: ServerThread) -> None:
    status, headers, rest = _exchange(server, b"HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\n", True)
    assert status == b"HTTP/1.1 200 OK"
    assert headers["api-version"] == "1.44" and headers["content-length"] == "2"
    assert rest == b""


def test_keep_alive_lean_then_aiohttp_then_more(server: ServerThread) -> None:
    """E1: one connection: lean answers, a non-small call moves it to aiohttp, which keeps it."""
    s = server.connect()
    buf = bytearray()
    try:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
        assert _read_response(s, buf)[2] == b"OK"
        s.sendall(b"GET /no/such/route HTTP/1.1\r\nHost: d\r\n\r\n")  # not small: handed over
        status, _, body = _read_response(s, buf)
        assert (status, body) == (b"HTTP/1.1 404 Not Found", b'{"message":"page not found"}\n')
        for _ in range(2):
            s.sendall(b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n")
            assert _read_response(s, buf)[2] == b"OK"
    finally:
        s.close()


def test_pipelined_and_split_requests(server: ServerThread) -> None:
    """E1: two requests in one packet get two answers in order; a body split across packets
    is waited for."""
    s = server.connect()
    buf = bytearray()
    try:
        s.sendall(
            b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /v1.41/version HTTP/1.1\r\nHost: d\r\n\r\n"
        )
        assert _read_response(s, buf)[2] == b"OK"
        assert b'"ApiVersion":"1.44"' in _read_response(s, buf)[2]
        s.sendall(
            b'POST /volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"Na'
        )
        s.sendall(b'me":"b"}')
        status, _, body = _read_response(s, buf)
        assert status == b"HTTP/1.1 201 Created"
        assert body == b'{"Name":"b","Driver":"local"}\n'
    finally:
        s.close()
    assert server.engine.volumes.created == [{"Name": "b"}]  # type: ignore[attr-defined]


def test_connection_close_is_honoured(server: ServerThread) -> None:
    s = server.connect()
    try:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk  # ends: the server closed its side
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close\r\n" in data


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /_ping HTTP/1.0\r\n\r\n",  # HTTP/1.0: aiohttp's
        b"POST /volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'c\r\n{"Name":"c"}\r\n0\r\n\r\n',
    ],
)
def test_unusual_requests_go_to_aiohttp(server: ServerThread, raw: bytes) -> None:
    status, headers, _ = _exchange(server, raw)
    assert status.split(b" ")[1] in (b"200", b"201")
    assert headers["server"].startswith("Docker/")


def test_escaped_and_raw_utf8_paths_as_aiohttp(server: ServerThread) -> None:
    """E1: %-escapes are decoded for handlers on the lean path; raw UTF-8 is handed to aiohttp,
    which refuses it as before."""
    status, _, body = _exchange(server, b"GET /volumes/caf%C3%A9 HTTP/1.1\r\nHost: d\r\n\r\n")
    assert status == b"HTTP/1.1 404 Not Found"
    assert json.loads(body) == {"message": "get caf\u00e9: no such volume"}
    status, _, _ = _exchange(server, b"GET /volumes/caf\xc3\xa9 HTTP/1.1\r\nHost: d\r\n\r\n")
    assert status.endswith(b"400 Bad Request")


def test_idle_kept_alive_connections_are_closed(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E1: a client that keeps a lean connection open and silent is closed after KEEPALIVE."""
    from dockyard.api import lean

    monkeypatch.setattr(lean, "KEEPALIVE", 0.2)
    s = server.connect()
    buf = bytearray()
    try:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
        assert _read_response(s, buf)[2] == b"OK"
        s.settimeout(5)
        assert s.recv(1) == b""  # the server closed the idle connection
    finally:
        s.close()


def test_a_connection_in_use_outlives_keepalive_then_idles_out(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E1: the idle timer moves on lazily (one timer per connection, none per request): a
    connection asking every 0.1 s for 1 s stays open with KEEPALIVE at 0.3 s, then closes once
    silent for KEEPALIVE."""
    from dockyard.api import lean

    monkeypatch.setattr(lean, "KEEPALIVE", 0.3)
    s = server.connect()
    buf = bytearray()
    try:
        for _ in range(10):
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
            assert _read_response(s, buf)[2] == b"OK"
            time.sleep(0.1)
        started = time.monotonic()
        s.settimeout(5)
        assert s.recv(1) == b""
        assert 0.15 < time.monotonic() - started < 2.0
    finally:
        s.close()
