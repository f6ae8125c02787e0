"""E1: the Engine API server's routing, version negotiation, headers and error mapping, over a
real unix socket with fake services; plus docker-py parsing our answers."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import docker
import pytest

from dockyard import errors
from dockyard.api.errors import response_for
from tests.unit.api_fakes import CID, FakeEngine, ServerThread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(FakeEngine(), tmp_path / "api.sock").start()
    yield srv
    srv.stop()


def test_socket_is_root_only_and_stale_socket_replaced(tmp_path: Path) -> None:
    """E1: the socket is 0660 and a stale socket file left by a crash does not block startup."""
    import socket as socketlib

    path = tmp_path / "api.sock"
    stale = socketlib.socket(socketlib.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    srv = ServerThread(FakeEngine(), path).start()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert srv.request("GET", "/_ping")[0] == 200
    finally:
        srv.stop()


@pytest.mark.parametrize("prefix", ["", "/v1.44", "/v1.24", "/v1.41"])
def test_ping_with_and_without_version_prefix(server: ServerThread, prefix: str) -> None:
    """E1: /_ping answers OK with dockerd's negotiation headers under every accepted prefix."""
    status, headers, body = server.request("GET", prefix + "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["Api-Version"] == "1.44"
    assert headers["Builder-Version"] == "1"
    assert headers["Docker-Experimental"] == "false"
    assert headers["Ostype"] == "linux"
    assert headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert headers["Pragma"] == "no-cache"
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Server"] == "Docker/24.0.0-dockyard (linux)"


def test_head_ping(server: ServerThread) -> None:
    """E1: HEAD /_ping carries the headers and no body."""
    status, headers, body = server.request("HEAD", "/_ping")
    assert (status, body, headers["Api-Version"]) == (200, b"", "1.44")


def test_version_too_new_and_too_old(server: ServerThread) -> None:
    """E1: versions outside 1.24..1.44 get dockerd's 400 wording."""
    status, headers, body = server.request("GET", "/v1.45/version")
    assert status == 400
    assert json.loads(body) == {
        "message": "client version 1.45 is too new. Maximum supported API version is 1.44"
    }
    assert headers["Api-Version"] == "1.44" and headers["Ostype"] == "linux"
    status, _, body = server.request("GET", "/v1.12/containers/json")
    assert status == 400
    assert json.loads(body)["message"] == (
        "client version 1.12 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )


def test_unknown_route_is_page_not_found(server: ServerThread) -> None:
    """E1: routes we do not serve are JSON 404 "page not found"."""
    for method, path in [
        ("GET", "/swarm/nope"),
        ("GET", "/v1.44/plugins"),
        ("GET", "/nope/nope"),
        ("GET", "/containers/create"),  # wrong method: dockerd says 404 too
    ]:
        status, headers, body = server.request(method, path)
        assert status == 404, path
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"message": "page not found"}


def test_service_errors_map_to_status_and_message(server: ServerThread) -> None:
    """E1: a NotFound from the service is a 404 with Docker's wording; Conflict 409; 304 empty."""
    status, _, body = server.request("GET", "/containers/nosuch/json")
    assert (status, json.loads(body)) == (404, {"message": "No such container: nosuch"})
    assert server.request("POST", "/containers/create?name=web", {"Image": "busybox"})[0] == 201
    status, _, body = server.request("POST", "/containers/create?name=web", {"Image": "busybox"})
    assert status == 409 and "already in use" in json.loads(body)["message"]
    assert server.request("POST", "/containers/web/start")[0] == 204
    status, _, body = server.request("POST", "/containers/web/start")
    assert (status, body) == (304, b"")


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.InvalidParameter, 400),
        (errors.Forbidden, 403),
        (errors.NotFound, 404),
        (errors.Conflict, 409),
        (errors.Unsupported, 501),
        (errors.Unavailable, 503),
        (errors.System, 500),
    ],
)
def test_error_class_mapping(cls: type[errors.DockyardError], status: int) -> None:
    """E1: each DockyardError class maps to its status with {"message": ...}."""
    resp = response_for(cls("boom"))
    assert resp.status == status
    assert json.loads(resp.body) == {"message": "boom"}  # type: ignore[attr-defined,arg-type]


def test_unexpected_exception_is_500(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """E1, R1: a bug in a service is a logged 500 with a JSON message, not a dropped connection,
    and the message shows no Python internals (the log has them)."""

    def broken() -> None:
        raise KeyError("Tty")

    server.engine.system.info = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="dockyard.api.errors"):
        status, _, body = server.request("GET", "/info")
    assert status == 500
    assert json.loads(body) == {"message": "internal error: the daemon's log has the details"}
    assert "Tty" in caplog.text and "KeyError" in caplog.text


def test_os_errors_are_worded_as_go_words_them() -> None:
    """R1: an OSError no service translated: strerror as Go's syscall errors (lower case),
    after the path, without Python's `[Errno 28]`."""
    resp = response_for(OSError(28, "No space left on device", "/var/lib/x"))
    assert json.loads(resp.body) == {"message": "/var/lib/x: no space left on device"}  # type: ignore[attr-defined,arg-type]


def test_malformed_json_body_is_400_in_go_words(server: ServerThread) -> None:
    """E1: a broken body is a 400 with Go's encoding/json wording."""
    status, _, body = server.request(
        "POST", "/containers/create", b"xyz", {"Content-Type": "application/json"}
    )
    assert status == 400
    assert json.loads(body) == {"message": "invalid character 'x' looking for beginning of value"}


def test_json_content_type_is_exact(server: ServerThread) -> None:
    """E1: JSON answers say exactly application/json (the docker CLI compares it)."""
    status, headers, body = server.request("GET", "/version")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["ApiVersion"] == "1.44"


def test_container_routes_decode_queries(server: ServerThread) -> None:
    """E1: list passes all/limit/size/filters (old map form too); stop passes t and signal."""
    fake = server.engine.containers
    flt = quote(json.dumps({"status": {"running": True, "exited": False}}))
    status, _, _ = server.request("GET", f"/containers/json?all=1&limit=3&size=true&filters={flt}")
    assert status == 200
    assert fake.calls[-1] == ("list", (True, 3, True, {"status": ["running"]}))
    server.request("POST", "/containers/create?name=web", {"Image": "busybox"})
    assert server.request("POST", "/v1.44/containers/web/stop?t=5&signal=SIGINT")[0] == 204
    assert fake.calls[-1] == ("stop", ("web", "SIGINT", 5))
    assert server.request("POST", "/containers/web/kill")[0] == 204
    assert fake.calls[-1] == ("kill", ("web", "SIGKILL"))
    status, _, body = server.request("POST", "/containers/web/stop?t=abc")
    assert status == 400 and "invalid syntax" in json.loads(body)["message"]


def test_commit_and_exec_create(server: ServerThread) -> None:
    """E1/E3: commit decodes repeated `changes`, pause defaults to true; exec create is 201."""
    server.request("POST", "/containers/create?name=web", {"Image": "busybox"})
    status, _, body = server.request(
        "POST", "/commit?container=web&repo=img&tag=v1&changes=ENV+A%3D1&changes=CMD+sh", b""
    )
    assert status == 201 and json.loads(body)["Id"].startswith("sha256:")
    ref, kwargs = server.engine.containers.calls[-1][1]
    assert ref == "web" and kwargs["changes"] == ["ENV A=1", "CMD sh"] and kwargs["pause"] is True
    status, _, body = server.request("POST", "/containers/web/exec", {"Cmd": ["true"]})
    assert status == 201 and json.loads(body) == {"Id": "e" * 64}


def test_image_routes_with_slashes_in_names(server: ServerThread) -> None:
    """E1/E3: image names with registry ports and slashes route to the greedy name match."""
    status, _, body = server.request("GET", "/v1.44/images/localhost:5000/a/b/json")
    assert status == 200 and json.loads(body)["RepoTags"] == ["localhost:5000/a/b:latest"]
    status, _, _ = server.request("POST", "/images/localhost:5000/a/b/tag?repo=x/y&tag=2")
    assert status == 201
    assert server.engine.images.calls[-1] == ("tag", ("localhost:5000/a/b", "x/y", "2"))
    status, _, body = server.request("DELETE", "/images/localhost:5000/a/b")
    assert (status, json.loads(body)) == (200, [{"Untagged": "localhost:5000/a/b"}])
    status, _, body = server.request("GET", "/images/nope/json")
    assert (status, json.loads(body)) == (404, {"message": "No such image: nope"})


def test_image_import_save_load_pull_bootstrap(server: ServerThread) -> None:
    """E3: import streams the body to the service and ends with {"status": id}; save is a tar;
    load reports "Loaded image"; a failed pull is a real status; bootstrap returns Id+RepoTags."""
    tar = b"x" * 300_000
    status, headers, body = server.request(
        "POST", "/images/create?fromSrc=-&repo=imp&tag=1&changes=CMD+sh&message=hi", tar
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    last = json.loads(body.splitlines()[-1])
    assert last["status"].startswith("sha256:")
    assert server.engine.images.calls[-1] == ("import", (300_000, "imp", "1", ["CMD sh"], "hi"))
    status, headers, body = server.request(
        "GET", "/images/get?names=busybox&names=localhost:5000/a/b"
    )
    assert (status, headers["Content-Type"]) == (200, "application/x-tar")
    assert body == b"saved:busybox,localhost:5000/a/b"
    status, _, body = server.request("GET", "/images/busybox/get")
    assert (status, body) == (200, b"saved:busybox")
    status, _, body = server.request("GET", "/images/get?names=nope")
    assert status == 404
    status, _, body = server.request("POST", "/images/load?quiet=0", b"tar")
    assert json.loads(body) == {"stream": "Loaded image: busybox:latest\n"}
    status, _, body = server.request("POST", "/images/create?fromImage=nosuch&tag=latest")
    assert status == 404 and "pull access denied" in json.loads(body)["message"]
    status, _, body = server.request("POST", "/dockyard/images/bootstrap")
    assert (status, json.loads(body)["RepoTags"]) == (200, ["busybox:latest"])


def test_docker_py_parses_our_answers(server: ServerThread) -> None:
    """E1: docker-py's ping/version/info/containers.list work against our server."""
    server.request("POST", "/containers/create?name=web", {"Image": "busybox"})
    client = docker.DockerClient(base_url=f"unix://{server.sock}", version="auto")
    try:
        assert client.ping() is True
        assert client.version()["ApiVersion"] == "1.44"
        assert client.api.api_version == "1.44"
        assert client.info()["Name"] == "testhost"
        listed = client.containers.list(all=True)
        assert [c.id for c in listed] == [CID]
        assert listed[0].name == "web"
        with pytest.raises(docker.errors.NotFound, match="No such container: ghost"):
            client.containers.get("ghost")
        server.engine.containers.exec_ends = True
        assert listed[0].exec_run(["echo"]).output == b"hello\n"
        low = docker.APIClient(base_url=f"unix://{server.sock}", version="1.45")
        with pytest.raises(docker.errors.APIError, match="too new"):
            low.info()  # type: ignore[no-untyped-call]
        low.close()  # type: ignore[no-untyped-call]
    finally:
        client.close()


def test_shutdown_does_not_wait_for_open_streams(tmp_path: Path) -> None:
    """E1: an open /events stream does not hold up server shutdown for long."""
    import time

    srv = ServerThread(FakeEngine(), tmp_path / "api.sock").start()
    sock = srv.connect()
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 5
    sock.close()
