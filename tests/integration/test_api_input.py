"""Bad input on a real daemon (#17 item 4, R1, E1): wrong types, wrong Content-Type, oversized
and malformed bodies, and a refused archive upload all get Docker's status and words, and the
daemon's containers, networks, volumes and images are what they were before."""

from __future__ import annotations

import io
import json
import socket
import tarfile
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.integration.apiwire import call, state

pytestmark = pytest.mark.integration

HOST = "HostConfig.HostConfig"


@pytest.fixture(scope="module")
def box(daemon: Daemon) -> Iterator[str]:
    """A running container for exec, update, connect and archive requests."""
    status, body = daemon.api("POST", "/containers/create?name=input-box",
                              {"Image": "busybox", "Cmd": ["sleep", "600"]})  # fmt: skip
    assert status == 201, body
    cid = body["Id"]
    assert daemon.api("POST", f"/containers/{cid}/start")[0] == 204
    yield cid
    daemon.api("DELETE", f"/containers/{cid}?force=1")


def _bad_bodies(cid: str) -> list[tuple[str, str, bytes, str]]:
    create = "/containers/create?name=input-never"
    return [
        # the examples
        (create, '{"Image":"busybox","Env":{"A":"1"}}',
         "ContainerConfigWrapper.Env of type []string", "object"),
        (create, '{"Image":"busybox","Cmd":5}', "ContainerConfigWrapper.Cmd of type string", "number"),
        (create, '{"Image":"busybox","HostConfig":{"Memory":"x"}}', f"{HOST}.Memory of type int64", "string"),
        (create, '{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":80}]}}}',
         "PortBinding.HostConfig.PortBindings.HostPort of type string", "number"),
        (create, '{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"bridge":{"Aliases":"a"}}}}',
         "EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string", "string"),
        (f"/containers/{cid}/update", '{"Memory":"x"}', "UpdateConfig.Memory of type int64", "string"),
        (f"/containers/{cid}/exec", '{"Cmd":["true"],"Env":"A=1"}', "ExecConfig.Env of type []string", "string"),
        (f"/commit?container={cid}&repo=input-never", '{"Env":{"A":"1"}}',
         "ContainerConfigWrapper.Env of type []string", "object"),
        ("/networks/create", '{"Name":"input-never","Labels":5}',
         "NetworkCreateRequest.Labels of type map[string]string", "number"),
        ("/networks/bridge/connect", json.dumps({"Container": cid, "EndpointConfig": {"Aliases": "x"}}),
         "EndpointSettings.EndpointConfig.Aliases of type []string", "string"),
        ("/networks/bridge/disconnect", json.dumps({"Container": cid, "Force": "yes"}),
         "NetworkDisconnect.Force of type bool", "string"),
        ("/volumes/create", '{"Name":"input-never","DriverOpts":{"a":1}}',
         "VolumeCreateBody.DriverOpts of type string", "number"),
    ]  # fmt: skip


def test_wrong_types_are_400s_in_dockerds_words_and_change_nothing(
    daemon: Daemon, box: str
) -> None:
    """R1, E1: each body refused with 400 and Go's UnmarshalTypeError wording; nothing made."""
    before = state(daemon.socket)
    for path, body, where, kind in _bad_bodies(box):
        status, answer = call(daemon.socket, "POST", path, body.encode())
        assert (status, answer) == (400, {"message": f"json: cannot unmarshal {kind} into Go struct field {where}"}), path  # fmt: skip
    assert state(daemon.socket) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_body_with_another_content_type_is_refused(daemon: Daemon, box: str,
                                                        content_type: str | None) -> None:  # fmt: skip
    """R1: dockerd's CheckForJSON: a body must come as application/json."""
    before = state(daemon.socket)
    headers = {"Content-Type": content_type} if content_type else {}
    for path, body in [("/containers/create", b'{"Image":"busybox"}'),
                       ("/volumes/create", b'{"Name":"input-never"}'),
                       ("/networks/create", b'{"Name":"input-never"}'),
                       (f"/containers/{box}/exec", b'{"Cmd":["true"]}')]:  # fmt: skip
        status, answer = call(daemon.socket, "POST", path, body, headers)
        shown = content_type or ""
        assert status == 400, (path, answer)
        assert answer == {"message": f"Content-Type specified ({shown}) must be 'application/json'"}
    assert state(daemon.socket) == before


def test_charset_parameter_and_empty_body_are_accepted(daemon: Daemon) -> None:
    """E1: `application/json; charset=utf-8` is JSON; an empty body needs no Content-Type."""
    status, body = call(daemon.socket, "POST", "/volumes/create",
                        b'{"Name":"input-charset"}',
                        {"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert status == 201, body
    status, body = call(daemon.socket, "POST", "/volumes/create", None, {})
    assert status == 201, body
    for name in ("input-charset", body["Name"]):
        assert call(daemon.socket, "DELETE", f"/volumes/{name}", headers={})[0] == 204


def test_malformed_json_is_400_in_gos_words(daemon: Daemon) -> None:
    before = state(daemon.socket)
    for raw, message in [(b'{"Image":', "unexpected EOF"), (b"[1]", "json: cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper"),
                         (b"{x}", "invalid character 'x' looking for beginning of object key string")]:  # fmt: skip
        assert call(daemon.socket, "POST", "/containers/create", raw) == (400, {"message": message})
    assert state(daemon.socket) == before


def _rss_kib(daemon: Daemon) -> int:
    assert daemon.proc is not None
    with open(f"/proc/{daemon.proc.pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1])


def test_oversized_bodies_are_refused_without_being_held(daemon: Daemon) -> None:
    """R1: a 50 MiB create body is a 413, declared or chunked; the daemon does not hold it
    (its RSS grows by far less than the bodies sent) and keeps answering."""
    before, rss = state(daemon.socket), _rss_kib(daemon)
    filler = b'{"Image":"busybox","Env":["' + b"A" * (50 << 20) + b'"]}'
    for _ in range(3):
        status, answer = call(daemon.socket, "POST", "/containers/create", filler)
        assert status == 413, answer
        assert "limit for a JSON body is 8 MiB" in answer["message"]
    # chunked, no length announced: read only until the limit is passed
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(str(daemon.socket))
    try:
        s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        chunk = b"A" * (1 << 20)
        head = b""
        try:
            for _ in range(50):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the daemon answered and closed: it stopped reading, as it should
        head = s.recv(65536)
    finally:
        s.close()
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert _rss_kib(daemon) - rss < 40 * 1024  # 200 MiB were sent
    assert state(daemon.socket) == before
    assert daemon.api("GET", "/_ping")[0] == 200


def _tar(*members: tuple[str, str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, payload in members:
            ti = tarfile.TarInfo(name)
            if kind == "f":
                assert isinstance(payload, bytes)
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
            else:
                ti.type, ti.linkname = tarfile.SYMTYPE, str(payload)
                tf.addfile(ti)
    return buf.getvalue()


def _put(daemon: Daemon, cid: str, path: str, tar: bytes) -> tuple[int, object]:
    return call(daemon.socket, "PUT", f"/containers/{cid}/archive?path={path}", tar,
                {"Content-Type": "application/x-tar"})  # fmt: skip


def _get(daemon: Daemon, cid: str, path: str) -> tuple[int, object]:
    return call(daemon.socket, "GET", f"/containers/{cid}/archive?path={path}", headers={})


def test_refused_archive_upload_changes_nothing(daemon: Daemon, box: str) -> None:
    """R1, S11: the issue's case, a symlink planted and then written through: 400, and the
    container's changes, files and everything else are as before."""
    before = state(daemon.socket)
    status, answer = _put(daemon, box, "/", _tar(("evil", "l", "/"), ("evil/x", "f", b"x")))
    assert status == 400, answer
    assert state(daemon.socket) == before
    assert _get(daemon, box, "/evil")[0] == 404


def test_refused_archive_upload_puts_back_what_it_replaced(daemon: Daemon, box: str) -> None:
    """R1, S11: a file replaced and a directory made before the refused entry: the file has its
    old content again, the directory is gone (overlayfs keeps the copy-up of the file renamed
    aside and back, so `changes` may list it: D-input-3)."""
    status, _ = _put(daemon, box, "/tmp", _tar(("keep", "f", b"old\n")))
    assert status == 200
    kept = _get(daemon, box, "/tmp/keep")
    status, answer = _put(daemon, box, "/tmp", _tar(("keep", "f", b"new\n"), ("ok/new", "f", b"1"),
                                                     ("../../x", "f", b"")))  # fmt: skip
    assert status == 400, answer
    assert _get(daemon, box, "/tmp/keep") == kept
    assert _get(daemon, box, "/tmp/ok")[0] == 404
    assert _put(daemon, box, "/tmp", _tar(("good", "f", b"1")))[0] == 200
