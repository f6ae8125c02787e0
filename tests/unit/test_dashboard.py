"""#18 item 4 (B1): the dashboard's listener and its options, with fake services.

`--dashboard [PORT]` and daemon.json's "dashboard" (true, false or a port) parse as documented;
`POST /dockyard/dashboard` starts it on 127.0.0.1 once (again: the same answer; another port:
409); every path needs the token (compared in full: a prefix or a longer string fails) and the
listener's own Host; behind it only GET routes that list or inspect are reachable, answered
by the very handlers the socket uses; the page's files ship in the package and carry a CSP that
allows no script but their own."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import daemon, daemonconfig
from dockyard.api.dashboard.routes import READ_ONLY, STATIC, read_only_routes
from tests.unit.api_fakes import FakeEngine, ServerThread


def _write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_flag_and_daemon_json(tmp_path: Path) -> None:
    assert daemon.parse_args([]).dashboard is None
    assert daemon.parse_args(["--dashboard"]).dashboard == 0
    assert daemon.parse_args(["--dashboard", "8123"]).dashboard == 8123
    assert daemon.parse_args(["--dashboard", "--iptables", "false"]).dashboard == 0
    for doc, want in (
        ({"dashboard": True}, 0),
        ({"dashboard": 8124}, 8124),
        ({"dashboard": False}, None),
    ):
        assert daemon.parse_args(["--config-file", _write(tmp_path, doc)]).dashboard == want
    with pytest.raises(daemonconfig.ConfigError, match="true, false or a port number"):
        daemon.parse_args(["--config-file", _write(tmp_path, {"dashboard": "yes"})])
    with pytest.raises(daemonconfig.ConfigError, match="invalid dashboard port: 70000"):
        daemon.parse_args(["--dashboard", "70000"])
    with pytest.raises(daemonconfig.ConfigError, match="both as a flag and in the configuration"):
        daemon.parse_args(["--config-file", _write(tmp_path, {"dashboard": 1}), "--dashboard"])


def test_only_reading_routes_are_exposed() -> None:
    routes = read_only_routes()
    assert {(r.method, r.path) for r in routes} <= READ_ONLY
    assert all(r.method == "GET" for r in routes)
    paths = {r.path for r in routes}
    assert "/containers/json" in paths and "/images/{name:.+}/history" in paths
    for hidden in ("/containers/{id}/logs", "/containers/{id}/archive", "/containers/{id}/export",
                   "/containers/{id}/attach/ws", "/images/get", "/images/{name:.+}/get",
                   "/exec/{id}/json"):  # fmt: skip
        assert hidden not in paths


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(FakeEngine(), tmp_path / "api.sock").start()
    yield srv
    srv.stop()


def _tcp(
    port: int, path: str, method: str = "GET", host: str = ""
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers={"Host": host} if host else {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.headers), body


def test_started_once_behind_its_token(server: ServerThread) -> None:
    status, _, body = server.request("GET", "/dockyard/dashboard")
    assert status == 404 and b"not running" in body
    status, _, body = server.request("POST", "/dockyard/dashboard")
    assert status == 200
    info = json.loads(body)
    port, token = info["Port"], info["Token"]
    assert info["URL"] == f"http://127.0.0.1:{port}/{token}/" and info["Address"] == "127.0.0.1"
    assert json.loads(server.request("POST", "/dockyard/dashboard")[2]) == info
    assert json.loads(server.request("POST", f"/dockyard/dashboard?port={port}")[2]) == info
    status, _, body = server.request("POST", f"/dockyard/dashboard?port={port + 1}")
    assert status == 409 and b"already listens" in body
    assert server.request("POST", "/dockyard/dashboard?port=x")[0] == 400
    assert json.loads(server.request("GET", "/dockyard/dashboard")[2]) == info

    # the same handler's answer as on the socket
    socket_answer = server.request("GET", "/containers/json?all=1")[2]
    status, headers, body = _tcp(port, f"/{token}/api/containers/json?all=1")
    assert (status, body) == (200, socket_answer)
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'")
    assert headers["Referrer-Policy"] == "no-referrer"

    for bad in (
        "",
        token[:-1],
        token + "x",
        "%00" + token,
        token.upper() if token.upper() != token else token.lower(),
        "%C3%A9",
    ):
        assert _tcp(port, f"/{bad}/api/containers/json")[0] == 403, bad
    assert _tcp(port, "/")[0] == 403
    assert _tcp(port, f"/{token}/", host=f"attacker.example:{port}")[0] == 403
    assert _tcp(port, f"/{token}/", host=f"localhost:{port}")[0] == 200
    assert _tcp(port, f"/{token}")[0] == 301
    assert _tcp(port, f"/{token}/api/containers/create", method="POST")[0] == 405
    assert _tcp(port, f"/{token}/api/containers/abc/logs")[0] == 404
    assert _tcp(port, f"/{token}/api/v1.41/containers/json")[0] == 404  # no versions here

    for name, content_type in STATIC.items():
        path = "" if name == "index.html" else name
        status, headers, body = _tcp(port, f"/{token}/{path}")
        assert status == 200 and headers["Content-Type"].startswith(content_type), name
        shipped = Path(__file__).parents[2] / "src/dockyard/api/dashboard/static" / name
        assert body == shipped.read_bytes()


def test_a_busy_port_is_refused_in_dockerd_words(server: ServerThread) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, _, body = server.request("POST", f"/dockyard/dashboard?port={port}")
    assert status == 500
    assert json.loads(body) == {
        "message": f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    }
    assert server.request("GET", "/dockyard/dashboard")[0] == 404  # nothing half-started
