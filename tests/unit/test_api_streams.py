"""E1/E4: streaming endpoints over a real unix socket: hijacked attach/exec (101 UPGRADED, stdin,
half-close), wait sending headers before its body, logs framing, events, tar export."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dockyard.api.stream import parse_frames
from tests.unit.api_fakes import FakeEngine, ServerThread, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(FakeEngine(), tmp_path / "api.sock").start()
    yield srv
    srv.stop()


def _send(
    sock: socket.socket, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> None:
    lines = [f"{method} {path} HTTP/1.1", "Host: docker"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def _read_head(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed during headers: {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status, *fields = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    return status, headers, rest


def _read_frames(
    sock: socket.socket, buf: bytes, count: int
) -> tuple[list[tuple[int, bytes]], bytes]:
    frames: list[tuple[int, bytes]] = []
    while True:
        got, buf = parse_frames(buf)
        frames += got
        if len(frames) >= count:
            return frames, buf
        chunk = sock.recv(4096)
        assert chunk, f"EOF after {frames}"
        buf += chunk


def _read_to_eof(sock: socket.socket, buf: bytes = b"") -> bytes:
    while chunk := sock.recv(4096):
        buf += chunk
    return buf


def _create(server: ServerThread, name: str, tty: bool = False) -> None:
    status, _, _ = server.request(
        "POST", f"/containers/create?name={name}", {"Image": "busybox", "Tty": tty}
    )
    assert status == 201


def test_attach_hijack_round_trip_with_half_close(server: ServerThread) -> None:
    """E1: attach answers 101 UPGRADED, multiplexes output, forwards stdin, and a client
    half-close becomes stdin EOF while output still flows back."""
    _create(server, "web")
    sock = server.connect()
    try:
        _send(
            sock,
            "POST",
            "/v1.44/containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1",
            {"Connection": "Upgrade", "Upgrade": "tcp"},
        )
        status, headers, rest = _read_head(sock)
        assert status == "HTTP/1.1 101 UPGRADED"
        assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        assert headers["connection"] == "Upgrade" and headers["upgrade"] == "tcp"
        frames, rest = _read_frames(sock, rest, 1)
        assert frames == [(1, b"hello\n")]
        sock.sendall(b"abc")
        frames, rest = _read_frames(sock, rest, 1)
        assert frames == [(1, b"ABC")]
        sock.shutdown(socket.SHUT_WR)
        tail = _read_to_eof(sock, rest)
        assert parse_frames(tail) == ([(2, b"bye\n")], b"")
    finally:
        sock.close()
    session = server.engine.containers.sessions[0]
    wait_for(lambda: session.closed)
    assert session.stdin_closed


def test_attach_tty_is_raw_stream(server: ServerThread) -> None:
    """E1: with a TTY the stream is raw bytes, content type raw-stream."""
    _create(server, "tty", tty=True)
    sock = server.connect()
    try:
        _send(sock, "POST", "/containers/tty/attach?stream=1&stdin=1&stdout=1",
              {"Connection": "Upgrade", "Upgrade": "tcp"})  # fmt: skip
        status, headers, rest = _read_head(sock)
        assert status == "HTTP/1.1 101 UPGRADED"
        assert headers["content-type"] == "application/vnd.docker.raw-stream"
        sock.sendall(b"xy")
        sock.shutdown(socket.SHUT_WR)
        assert _read_to_eof(sock, rest) == b"hello\nXYbye\n"
    finally:
        sock.close()


@pytest.mark.parametrize(("query", "keys"), [("", b"\x10\x11"), ("&detachKeys=ctrl-x,a", b"\x18a")])
def test_attach_detach_keys_end_the_stream(server: ServerThread, query: str, keys: bytes) -> None:
    """#16: with a TTY the detach keys end the stream; what came before them reaches stdin, a
    broken-off sequence passes through, and the session is closed (the process goes on)."""
    _create(server, "tty", tty=True)
    sock = server.connect()
    try:
        _send(sock, "POST", f"/containers/tty/attach?stream=1&stdin=1&stdout=1{query}",
              {"Connection": "Upgrade", "Upgrade": "tcp"})  # fmt: skip
        _, _, rest = _read_head(sock)
        sock.sendall(b"x" + keys[:1] + b"y")
        time.sleep(0.1)
        sock.sendall(b"z" + keys[:1])  # held back: it may start the sequence
        time.sleep(0.1)
        sock.sendall(keys[1:])
        got = _read_to_eof(sock, rest)  # the server closed the stream
        assert got == b"hello\nX" + keys[:1].upper() + b"YZ"  # echoed upper-cased
        session = server.engine.containers.sessions[0]
        wait_for(lambda: session.closed)
        assert not session.stdin_closed
    finally:
        sock.close()


def test_attach_client_disconnect_detaches_session(server: ServerThread) -> None:
    """E1: a client that simply goes away detaches (session.close), without stdin EOF handling
    blocking the server."""
    _create(server, "web")
    sock = server.connect()
    _send(sock, "POST", "/containers/web/attach?stream=1&stdout=1",
          {"Connection": "Upgrade", "Upgrade": "tcp"})  # fmt: skip
    _read_head(sock)
    sock.close()
    wait_for(
        lambda: server.engine.containers.sessions and server.engine.containers.sessions[0].closed
    )
    assert server.request("GET", "/_ping")[0] == 200


def test_attach_missing_container_is_404_before_hijack(server: ServerThread) -> None:
    """E1: errors before the stream starts are ordinary JSON errors."""
    status, _, body = server.request(
        "POST",
        "/containers/ghost/attach?stream=1",
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
    )
    assert (status, json.loads(body)) == (404, {"message": "No such container: ghost"})


def test_exec_start_hijack_and_detach(server: ServerThread) -> None:
    """E4: exec start with a JSON body hijacks like attach; Detach answers 200 at once; an unknown
    exec is 404."""
    _create(server, "web")
    exec_id = "e" * 64
    sock = server.connect()
    try:
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        _send(sock, "POST", f"/exec/{exec_id}/start",
              {"Connection": "Upgrade", "Upgrade": "tcp", "Content-Type": "application/json"}, body)  # fmt: skip
        status, headers, rest = _read_head(sock)
        assert status == "HTTP/1.1 101 UPGRADED"
        sock.sendall(b"q")
        sock.shutdown(socket.SHUT_WR)
        frames, _ = parse_frames(_read_to_eof(sock, rest))
        assert frames == [(1, b"hello\n"), (1, b"Q"), (2, b"bye\n")]
    finally:
        sock.close()
    status, _, _ = server.request("POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert status == 200
    status, _, body = server.request("POST", "/exec/nope/start", {"Detach": False})
    assert status == 404 and json.loads(body)["message"] == "No such exec instance: nope"
    status, _, body = server.request("GET", f"/exec/{exec_id}/json")
    assert json.loads(body)["ExitCode"] == 0


def test_attach_without_upgrade_streams_200(server: ServerThread) -> None:
    """E1: a client that does not ask to upgrade gets 200 and the output stream."""
    _create(server, "web")
    sock = server.connect()
    try:
        _send(sock, "POST", "/containers/web/attach?stream=1&stdout=1", {})
        status, headers, rest = _read_head(sock)
        assert status == "HTTP/1.1 200 OK"
        assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        while b"hello" not in rest:
            rest += sock.recv(4096)
    finally:
        sock.close()


def test_wait_sends_headers_before_body(server: ServerThread) -> None:
    """E4: POST /wait answers its headers once the wait is registered (docker run waits for
    them before start; #17) and the body {"StatusCode", "Error"} when the container exits; a
    missing container is 404."""
    _create(server, "web")
    sock = server.connect()
    try:
        _send(sock, "POST", "/containers/web/wait?condition=next-exit", {})
        status, headers, rest = _read_head(sock)
        assert status == "HTTP/1.1 200 OK"
        # registered before the headers went out: a start sent on seeing them is never missed
        assert ("wait_registered", ("web", "next-exit")) in server.engine.containers.calls
        assert headers["content-type"] == "application/json"
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            rest += sock.recv(4096)
        assert rest == b""
        server.engine.containers.exit_code = 3
        sock.settimeout(5)
        body = _read_to_eof(sock, rest) if headers.get("connection") == "close" else b""
        while b'"StatusCode"' not in body or not body.endswith(b"0\r\n\r\n"):
            body += sock.recv(4096)
        assert b'{"StatusCode":3,"Error":null}\n' in body
    finally:
        sock.close()
    status, _, body = server.request("POST", "/containers/ghost/wait")
    assert status == 404


def test_logs_framing_by_tty(server: ServerThread) -> None:
    """E4: logs are multiplexed frames without a TTY, raw with one; options reach the service."""
    fake = server.engine.containers
    fake.log_frames = [(1, b"out\n"), (2, b"err\n")]
    _create(server, "plain")
    status, headers, body = server.request(
        "GET", "/containers/plain/logs?stdout=1&stderr=1&tail=5&timestamps=1&since=10"
    )
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    assert parse_frames(body) == ([(1, b"out\n"), (2, b"err\n")], b"")
    kwargs = fake.calls[-1][1]
    assert kwargs["tail"] == "5" and kwargs["timestamps"] is True and kwargs["since"] == 10.0
    _create(server, "tty", tty=True)
    status, headers, body = server.request("GET", "/containers/tty/logs?stdout=1")
    assert headers["Content-Type"] == "application/vnd.docker.raw-stream"
    assert body == b"out\nerr\n"
    status, _, body = server.request("GET", "/containers/tty/logs")
    assert status == 400 and "at least one stream" in json.loads(body)["message"]


def test_export_streams_tar(server: ServerThread) -> None:
    """E3: export is an application/x-tar stream of what the service yields."""
    _create(server, "web")
    status, headers, body = server.request("GET", "/containers/web/export")
    assert (status, headers["Content-Type"], body) == (
        200,
        "application/x-tar",
        b"tar-part-1tar-part-2",
    )
    assert server.request("GET", "/containers/ghost/export")[0] == 404


def test_events_endpoint_replays_filters_and_ends_at_until(server: ServerThread) -> None:
    """E1: /events streams JSON objects, one per line, filtered, ending at `until`."""
    bus = server.engine.events
    start = time.time()
    bus.publish("container", "create", "c1", {"name": "web", "image": "busybox"})
    bus.publish("image", "tag", "sha256:x", {"name": "busybox:latest"})
    bus.publish("container", "start", "c1", {"name": "web", "image": "busybox"})
    flt = quote(json.dumps({"type": ["container"], "container": ["web"]}))
    t0 = time.monotonic()
    status, headers, body = server.request(
        "GET", f"/events?since={start - 1:.3f}&until={time.time() + 0.3:.3f}&filters={flt}"
    )
    assert time.monotonic() - t0 >= 0.2  # stayed open until `until`
    assert (status, headers["Content-Type"]) == (200, "application/json")
    events = [json.loads(line) for line in body.splitlines()]
    assert [e["Action"] for e in events] == ["create", "start"]
    assert events[0]["Actor"] == {"ID": "c1", "Attributes": {"name": "web", "image": "busybox"}}
    assert events[0]["status"] == "create" and events[0]["from"] == "busybox"


def test_events_live_stream(server: ServerThread) -> None:
    """E1: an open /events stream receives events published afterwards from another thread."""
    sock = server.connect()
    try:
        _send(sock, "GET", "/events", {})
        status, _, rest = _read_head(sock)
        assert status == "HTTP/1.1 200 OK"
        server.engine.events.publish("container", "die", "c9", {"exitCode": "0"})
        while b"die" not in rest:
            rest += sock.recv(4096)
        assert b'"Action":"die"' in rest
    finally:
        sock.close()
    # the server notices the client left and drops its subscription
    wait_for(lambda: not server.engine.events._subscribers)
