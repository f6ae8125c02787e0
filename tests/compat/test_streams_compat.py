"""Exec and attach streams as docker-py and the docker CLI read them (#16, E1): raw bytes with a
TTY, 8-byte frames without one (the exec *start* request's Tty decides, as in dockerd), on the
hijacked and the plain HTTP paths; detach keys; attach with logs; websocket attach; resize."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator

import docker
import pytest
import websocket

from tests.compat.cli import docker as docker_cli
from tests.compat.cli import ok
from tests.conftest import Daemon, UnixHTTPConnection

pytestmark = [pytest.mark.compat, pytest.mark.integration]

TWO_STREAMS = ["sh", "-c", "echo hello out; sleep 0.3; echo hello err >&2"]


@pytest.fixture
def api(daemon: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=daemon.host, version="1.41", timeout=60)
    made: list[str] = []
    client.made = made  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        for cid in made:
            client.remove_container(cid, force=True)
        client.close()


def _running(api: docker.APIClient, **kw: object) -> str:
    kw.setdefault("command", "cat")
    cid: str = api.create_container("busybox", stdin_open=True, **kw)["Id"]
    api.made.append(cid)  # type: ignore[attr-defined]
    api.start(cid)
    return cid


def _raw(sock: socket.socket) -> socket.socket:
    return getattr(sock, "_sock", sock)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        assert chunk, f"stream ended after {got!r}"
        got += chunk
    return got


def _closed_after(sock: socket.socket, keys: bytes) -> bool:
    """Send the detach keys one by one; True when the daemon then ends the stream."""
    for byte in keys:
        sock.sendall(bytes([byte]))
        time.sleep(0.3)
    sock.settimeout(10)
    try:
        sock.sendall(b"still there?\n")
        return sock.recv(128) == b""
    except TimeoutError:  # an OSError too, but the stream is still open
        return False
    except OSError:  # the daemon closed it: a broken pipe or a reset
        return True


def test_exec_tty_output_is_raw_only_when_start_asks(api: docker.APIClient) -> None:
    """dockerd frames by the start request's Tty: docker-py's tty=False start of a TTY exec gets
    frames (stream 1), a tty=True start gets raw bytes, whole and in order."""
    cid = _running(api)
    ex = api.exec_create(cid, TWO_STREAMS, tty=True)
    assert api.exec_start(ex, demux=True) == (b"hello out\r\nhello err\r\n", None)
    ex = api.exec_create(cid, TWO_STREAMS, tty=True)
    assert api.exec_start(ex, tty=True) == b"hello out\r\nhello err\r\n"
    ex = api.exec_create(cid, TWO_STREAMS, tty=True)
    assert b"".join(api.exec_start(ex, tty=True, stream=True)) == b"hello out\r\nhello err\r\n"
    ex = api.exec_create(cid, TWO_STREAMS)
    assert api.exec_start(ex, demux=True) == (b"hello out\n", b"hello err\n")
    assert api.exec_inspect(ex)["ProcessConfig"]["tty"] is False


def test_exec_socket_without_tty_start_is_framed(api: docker.APIClient) -> None:
    cid = _running(api)
    ex = api.exec_create(cid, ["printf", "yay, interactive exec!"], tty=True)
    sock = _raw(api.exec_start(ex, socket=True))
    try:
        stream, size = struct.unpack(">BxxxL", _read_exactly(sock, 8))
        assert (stream, size) == (1, len("yay, interactive exec!"))
        assert _read_exactly(sock, size) == b"yay, interactive exec!"
    finally:
        sock.close()


@pytest.mark.parametrize(("config", "keys"), [(None, b"\x10\x11"), ("ctrl-p", b"\x10")])
def test_exec_detach_keys(api: docker.APIClient, config: str | None, keys: bytes) -> None:
    """ctrl-p ctrl-q by default, or the config file's `detachKeys` docker-py sends: the stream
    ends and the container's process goes on."""
    if config:
        api._general_configs["detachKeys"] = config
    cid = _running(api)
    ex = api.exec_create(cid, "cat", stdin=True, tty=True, stdout=True)
    sock = _raw(api.exec_start(ex, tty=True, socket=True))
    try:
        assert _closed_after(sock, keys)
    finally:
        sock.close()
    assert api.inspect_container(cid)["State"]["Running"]


def test_exec_bad_detach_keys_are_refused(api: docker.APIClient) -> None:
    cid = _running(api)
    with pytest.raises(docker.errors.APIError) as exc:
        api.exec_create(cid, "cat", detach_keys="ctrl-P")
    assert exc.value.status_code == 500
    assert exc.value.explanation == "Invalid escape keys (ctrl-P) provided"


def test_attach_detach_keys_from_query(api: docker.APIClient) -> None:
    api._general_configs["detachKeys"] = "ctrl-p"  # the query's own keys win
    cid = _running(api, tty=True)
    sock = _raw(api.attach_socket(cid, {"stdin": True, "stream": True, "detachKeys": "ctrl-x"}))
    try:
        assert _closed_after(sock, b"\x18")
    finally:
        sock.close()
    sock = _raw(api.attach_socket(cid, {"stdin": True, "stream": True}))
    try:
        assert _closed_after(sock, b"\x10")
    finally:
        sock.close()
    assert api.inspect_container(cid)["State"]["Running"]
    with pytest.raises(docker.errors.APIError) as exc:
        api.attach_socket(cid, {"stdin": True, "stream": True, "detachKeys": "ctrl-"})
    assert exc.value.status_code == 400
    assert exc.value.explanation == "Invalid detach keys (ctrl-) provided"


def test_attach_logs_without_stream(api: docker.APIClient) -> None:
    cid = api.create_container("busybox", "echo hello")["Id"]
    api.made.append(cid)  # type: ignore[attr-defined]
    api.start(cid)
    api.wait(cid, condition="not-running")
    assert api.attach(cid, stream=False, logs=True) == b"hello\n"
    assert api.attach(cid, stream=False, logs=False) == b""


def test_attach_socket_frames_and_websocket(daemon: Daemon, api: docker.APIClient) -> None:
    line = "hi there and stuff and things, words!"
    cid = api.create_container("busybox", f"printf '{line}'", detach=True)["Id"]
    api.made.append(cid)  # type: ignore[attr-defined]
    sock = _raw(api.attach_socket(cid, {"stdout": 1, "stream": 1, "logs": 1}))
    api.start(cid)
    try:
        stream, size = struct.unpack(">BxxxL", _read_exactly(sock, 8))
        assert (stream, size) == (1, len(line))
        assert _read_exactly(sock, size).decode() == line
    finally:
        sock.close()
    cid = api.create_container("busybox", f"printf '{line}'", detach=True)["Id"]
    api.made.append(cid)  # type: ignore[attr-defined]
    assert _websocket_attach(daemon, cid, lambda: api.start(cid)) == line.encode()


def _websocket_attach(d: Daemon, cid: str, then: Callable[[], object]) -> object:
    """The first message of a websocket attach (docker-py's `ws=True` speaks TCP only: the same
    client library, over the daemon's unix socket)."""
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect(str(d.socket))
    ws = websocket.create_connection(
        f"ws://localhost/v1.41/containers/{cid}/attach/ws?stdout=1&stream=1&logs=1", socket=unix
    )
    try:
        then()
        return ws.recv()
    finally:
        ws.close()


def _plain_attach(d: Daemon, cid: str) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(str(d.socket))
    conn.request("POST", f"/v1.41/containers/{cid}/attach?stdout=1&stderr=1&stream=1")
    resp = conn.getresponse()
    try:
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("tty", "want"),
    [(False, b"\x01\0\0\0\0\0\0\x03out\x02\0\0\0\0\0\0\x03err"), (True, b"outerr")],
)
def test_attach_without_upgrade_frames_by_tty(
    daemon: Daemon, api: docker.APIClient, tty: bool, want: bytes
) -> None:
    """The plain HTTP path (no `Upgrade: tcp`): the body is the stream until the process ends,
    framed without a TTY, raw with one."""
    cmd = ["sh", "-c", "sleep 1; printf out; sleep 0.3; printf err >&2"]
    cid = api.create_container("busybox", cmd, tty=tty)["Id"]
    api.made.append(cid)  # type: ignore[attr-defined]
    api.start(cid)
    assert _plain_attach(daemon, cid) == (200, want)


def test_resize_container_and_exec(api: docker.APIClient) -> None:
    cid = _running(api, tty=True)
    api.resize(cid, 24, 80)
    ex = api.exec_create(cid, "sleep 30", tty=True)
    api.exec_start(ex, detach=True)
    api.exec_resize(ex, height=20, width=60)
    with pytest.raises(docker.errors.NotFound):
        api.exec_resize("0" * 64, height=20, width=60)


def test_docker_cli_exec_tty_is_raw(daemon: Daemon) -> None:
    cid = ok(docker_cli(daemon, "run", "-d", "busybox", "sleep", "60")).strip()
    try:
        for flags, out, err in ((["-t"], b"out\r\nerr\r\n", b""), ([], b"out\n", b"err\n")):
            r = subprocess.run(["docker", "exec", *flags, cid, "sh", "-c", "echo out; echo err >&2"],
                               env=daemon.env(), capture_output=True, timeout=60)  # fmt: skip
            assert (r.returncode, r.stdout, r.stderr) == (0, out, err)
    finally:
        docker_cli(daemon, "rm", "-f", cid)


def test_http_status_of_attach_to_missing_container(daemon: Daemon) -> None:
    status, body = daemon.api("POST", "/containers/nope/attach?stream=1&stdout=1")
    assert (status, body) == (404, {"message": "No such container: nope"})
