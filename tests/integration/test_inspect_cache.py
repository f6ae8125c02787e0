"""R1 (#17): `GET /containers/{id}/json` answers from the encoded inspect it kept for that ref
(queries.inspect_encoded), so each answer must still be what a fresh read gives after anything
that changes it: its state (start, stop), its name and a link target's name (rename), an exec,
a network connect, an update, a removal; and one ref's answer is never another's."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def _get(d: Daemon, ref: str) -> dict[str, Any]:
    status, body = d.api("GET", f"/containers/{ref}/json")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def _ok(d: Daemon, *args: str) -> str:
    r = d.dockyard(*args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout.strip()


def test_every_change_shows_in_the_next_answer(daemon: Daemon) -> None:
    target = _ok(daemon, "run", "-d", "--name", "ic-db", "busybox", "sleep", "300")
    web = _ok(daemon, "create", "--name", "ic-web", "--link", "ic-db:db", "busybox", "sleep", "300")
    try:
        for _ in range(2):  # the second answer of each is the kept one
            assert _get(daemon, "ic-web")["State"]["Status"] == "created"
            assert _get(daemon, web[:12])["HostConfig"]["Links"] == ["/ic-db:/ic-web/db"]
        _ok(daemon, "start", "ic-web")
        assert _get(daemon, "ic-web")["State"]["Status"] == "running"
        _ok(daemon, "rename", "ic-db", "ic-db2")  # another record's name, in this one's Links
        assert _get(daemon, "ic-web")["HostConfig"]["Links"] == ["/ic-db2:/ic-web/db"]
        assert _get(daemon, target)["Name"] == "/ic-db2"
        assert daemon.api("GET", "/containers/ic-db/json")[0] == 404  # the old name's answer
        assert _get(daemon, "ic-web")["ExecIDs"] is None
        status, made = daemon.api("POST", "/containers/ic-web/exec", {"Cmd": ["true"]})
        assert status == 201, made
        assert _get(daemon, "ic-web")["ExecIDs"] == [made["Id"]]  # type: ignore[index]
        _ok(daemon, "update", "--memory", "64m", "--memory-swap", "128m", "ic-web")
        assert _get(daemon, "ic-web")["HostConfig"]["Memory"] == 64 << 20
        _ok(daemon, "network", "disconnect", "bridge", "ic-web")
        assert _get(daemon, "ic-web")["NetworkSettings"]["Networks"] == {}
        _ok(daemon, "stop", "-t", "0", "ic-web")
        assert _get(daemon, "ic-web")["State"]["Status"] == "exited"
        assert _get(daemon, web)["Id"] == web and _get(daemon, target)["Id"] == target
        _ok(daemon, "rm", "ic-web")
        assert daemon.api("GET", f"/containers/{web}/json")[0] == 404
    finally:
        daemon.dockyard("rm", "-f", "ic-web", "ic-db2", "ic-db")


def _read_answer(sock: socket.socket, buf: bytes) -> tuple[list[bytes], bytes, bytes]:
    """One HTTP answer off `sock` (Content-Length framed): head lines, body, what follows."""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    (length,) = [int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length:")]
    while len(rest) < length:
        rest += sock.recv(65536)
    return lines, rest[:length], rest[length:]


def test_kept_answers_are_sent_at_once_exactly_as_the_handler_sends_them(daemon: Daemon) -> None:
    """A kept answer goes out straight from the connection's protocol (api/lean.py at_once, no
    task): pipelined requests get their answers in order, with the handler's own head (Date
    aside); a query, a bad API version and an unknown ref still take the handler's path."""
    cid = _ok(daemon, "create", "--name", "ic-raw", "busybox", "true")
    try:
        _get(daemon, cid)  # kept now
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(daemon.socket))
        paths = [f"/containers/{cid}/json", "/v1.41/containers/ic-raw/json",
                 f"/containers/{cid}/json?size=0", "/v1.10/containers/ic-raw/json",
                 "/containers/ic-none/json", f"/containers/{cid}/json"]  # fmt: skip
        sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: d\r\n\r\n".encode() for p in paths))
        answers, buf = [], b""
        for _ in paths:
            lines, body, buf = _read_answer(sock, buf)
            answers.append(([x for x in lines if not x.startswith(b"Date: ")], body))
        sock.close()
        heads = [a[0] for a in answers]
        assert heads[0] == heads[1] == heads[2] == heads[5]
        assert heads[0][:2] == [b"HTTP/1.1 200 OK", b"Content-Type: application/json"]
        assert answers[0][1] == answers[1][1] == answers[2][1] == answers[5][1]
        assert json.loads(answers[0][1])["Id"] == cid
        assert heads[3][0] == b"HTTP/1.1 400 Bad Request" and b"too old" in answers[3][1]
        assert answers[4] == (
            [b"HTTP/1.1 404 Not Found", *heads[0][1:-1], b"Content-Length: 41"],
            b'{"message":"No such container: ic-none"}\n',
        )
    finally:
        _ok(daemon, "rm", cid)
