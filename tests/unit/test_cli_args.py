"""CLI argument handling, the create body docker-cli would send, the stdlib API client and the
client-side `run` flow, against an in-process fake Engine API on a unix socket (MISSION E2, E4)."""

from __future__ import annotations

import argparse
import http.server
import json
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.cli import autostart, defaults
from dockyard.cli.client import APIError, Client
from dockyard.cli.command import CLIError, Parser
from dockyard.cli.main import main
from dockyard.cli.portspec import parse_mount, parse_ports, parse_ulimit
from dockyard.cli.runflags import add_flags, build, restart_policy

Handler = Callable[["_Req"], None]


class _Req(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[tuple[str, str], Handler] = {}
    log: list[tuple[str, str, bytes]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2]
        self.log.append((self.command, self.path, self.body))
        route = self.routes.get((self.command, path))
        if route is None:
            self.reply(404, {"message": f"page not found: {path}"})
        else:
            route(self)

    do_GET = do_POST = do_DELETE = do_HEAD = _dispatch

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def chunked(self, parts: list[bytes], content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def upgrade(self, payload: bytes) -> None:
        assert self.headers.get("Upgrade") == "tcp"
        self.wfile.write(
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + payload
        )
        self.wfile.flush()
        self.close_connection = True


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients close kept-alive connections; that is not a test failure


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, dict[tuple[str, str], Handler], list[Any]]]:
    sock = str(tmp_path / "engine.sock")
    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/_ping"): lambda r: r.reply(200, b"OK", {"Api-Version": "1.41"}),
    }
    log: list[Any] = []
    handler = type("H", (_Req,), {"routes": routes, "log": log})
    server = _Server(sock, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sock, routes, log
    server.shutdown()
    server.server_close()


def _ns(*argv: str) -> argparse.Namespace:
    p = Parser("dockyard run", "dockyard run [OPTIONS] IMAGE")
    add_flags(p)
    return p.parse_args(list(argv))


def test_run_flags_build_docker_create_body(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    ns = _ns(
        "-d",
        "--rm",
        "-e",
        "A=b",
        "--env-file",
        str(env_file),
        "-w",
        "/tmp",
        "-u",
        "1000",
        "--name",
        "web",
        "-l",
        "k=v",
        "-h",
        "box",
        "-m",
        "512m",
        "--cpus",
        "1.5",
        "--read-only",
        "--cap-add",
        "NET_ADMIN",
        "--network",
        "net1",
        "--ip",
        "10.1.0.5",
        "--network-alias",
        "db",
        "-p",
        "127.0.0.1:8080:80",
        "-v",
        "/data",
        "-v",
        "vol:/srv:ro",
        "--tmpfs",
        "/run:size=1m",
        "--add-host",
        "h=1.2.3.4",
        "--dns",
        "9.9.9.9",
        "--link",
        "other",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "5",
        "--init",
        "--ulimit",
        "nofile=10:20",
        "--sysctl",
        "net.x=1",
        "--shm-size",
        "64m",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "-n",
        "5",
    )
    body = build(ns)
    assert body["Image"] == "busybox"
    assert body["Cmd"] == ["sleep", "-n", "5"]
    assert body["Env"] == ["FROM_FILE=1", "A=b"]
    assert (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]) == (
        False,
        False,
        False,
    )
    assert body["Labels"] == {"k": "v"} and body["Hostname"] == "box"
    assert body["ExposedPorts"] == {"80/tcp": {}}
    assert body["Volumes"] == {"/data": {}}
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 5
    host = body["HostConfig"]
    assert host["Memory"] == 512 << 20 and host["NanoCpus"] == 1_500_000_000
    assert host["AutoRemove"] is True and host["ReadonlyRootfs"] is True
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert host["Binds"] == ["vol:/srv:ro"]
    assert host["Tmpfs"] == {"/run": "size=1m"}
    assert host["ExtraHosts"] == ["h:1.2.3.4"] and host["Dns"] == ["9.9.9.9"]
    assert host["Links"] == ["other:other"] and host["NetworkMode"] == "net1"
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert host["Sysctls"] == {"net.x": "1"} and host["ShmSize"] == 64 << 20
    assert host["PidsLimit"] == 50 and host["Init"] is True and host["CapAdd"] == ["NET_ADMIN"]
    endpoint = body["NetworkingConfig"]["EndpointsConfig"]["net1"]
    assert endpoint == {
        "IPAMConfig": {"IPv4Address": "10.1.0.5", "IPv6Address": ""},
        "Aliases": ["db"],
    }


def test_run_defaults_attach_and_entrypoint_reset() -> None:
    body = build(_ns("-it", "--entrypoint", "", "busybox"))
    assert (body["AttachStdin"], body["AttachStdout"], body["OpenStdin"], body["StdinOnce"]) == (
        True,
        True,
        True,
        True,
    )
    assert body["Tty"] is True and body["Entrypoint"] == [""] and body["Cmd"] is None
    assert body["HostConfig"]["NetworkMode"] == "default"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {}}
    assert build(_ns("busybox"))["Entrypoint"] is None


def test_ports_ranges_and_expose() -> None:
    exposed, bindings = parse_ports(["8000-8001:80-81/udp", "9000", "[::1]:53:53"], ["7000-7001"])
    assert bindings["80/udp"] == [{"HostIp": "", "HostPort": "8000"}]
    assert bindings["81/udp"] == [{"HostIp": "", "HostPort": "8001"}]
    assert bindings["9000/tcp"] == [{"HostIp": "", "HostPort": ""}]
    assert bindings["53/tcp"] == [{"HostIp": "::1", "HostPort": "53"}]
    assert set(exposed) == {"80/udp", "81/udp", "9000/tcp", "53/tcp", "7000/tcp", "7001/tcp"}
    with pytest.raises(CLIError):
        parse_ports(["1.2.3:80:80"], [])


def test_mount_and_ulimit_specs() -> None:
    assert parse_mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rshared") == {
        "Type": "bind",
        "Source": "/a",
        "Target": "/b",
        "ReadOnly": True,
        "BindOptions": {"Propagation": "rshared"},
    }
    assert parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770") == {
        "Type": "tmpfs",
        "Target": "/t",
        "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770},
    }
    assert parse_mount("src=v,target=/d,volume-nocopy")["VolumeOptions"] == {"NoCopy": True}
    with pytest.raises(CLIError, match="target is required"):
        parse_mount("type=bind,source=/a")
    assert parse_ulimit("nproc=5") == {"Name": "nproc", "Soft": 5, "Hard": 5}


def test_restart_policy() -> None:
    assert restart_policy("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert restart_policy("unless-stopped")["Name"] == "unless-stopped"
    with pytest.raises(CLIError):
        restart_policy("sometimes")
    with pytest.raises(CLIError):
        restart_policy("always:3")


def test_invalid_memory_flag_wording(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-H", "unix:///nonexistent.sock", "run", "-m", "x", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err.startswith('invalid argument "x" for "-m, --memory" flag: invalid size: \'x\'\n')
    assert "Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]" in err


def test_unknown_flag_and_missing_args(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ps", "--foo"]) == 125
    assert capsys.readouterr().err.startswith(
        "unknown flag: --foo\n\nUsage:  dockyard ps [OPTIONS]"
    )
    assert main(["rm"]) == 1
    assert capsys.readouterr().err.startswith(
        "dockyard: 'dockyard rm' requires at least 1 argument"
    )
    assert main(["nosuchcmd"]) == 1
    assert "unknown command" in capsys.readouterr().err


def test_version_flag_does_not_touch_the_socket(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("dockyard version ")


def test_defaults_mirror_config() -> None:
    from dockyard import config

    assert defaults.DEFAULT_HOST == config.DEFAULT_HOST
    assert defaults.API_VERSION == config.API_VERSION


def test_client_negotiates_version_and_decodes_chunked(engine: Any) -> None:
    sock, routes, log = engine
    routes[("GET", "/containers/json")] = lambda r: r.chunked([b'[{"Id":', b'"x"}]'])
    client = Client(sock)
    assert client.get("/containers/json", {"all": True}) == [{"Id": "x"}]
    assert client.version == "1.41"
    assert log[-1][1] == "/v1.41/containers/json?all=1"


def test_client_error_message(engine: Any) -> None:
    sock, routes, _ = engine
    routes[("DELETE", "/containers/x")] = lambda r: r.reply(409, {"message": "conflict!"})
    with pytest.raises(APIError) as info:
        Client(sock).call("DELETE", "/containers/x")
    assert (info.value.status, info.value.message) == (409, "conflict!")


def test_hijack_and_demultiplex(engine: Any) -> None:
    from dockyard.cli.client import frames

    sock, routes, _ = engine
    routes[("POST", "/exec/e1/start")] = lambda r: r.upgrade(
        frame(1, b"out\n") + frame(2, b"err\n")
    )
    conn = Client(sock).hijack("/exec/e1/start", body={"Detach": False})
    assert conn.multiplexed
    assert list(frames(conn.read_exact)) == [(1, b"out\n"), (2, b"err\n")]
    conn.close()


def _run_routes(routes: dict[tuple[str, str], Handler], start_error: str | None) -> None:
    state = {"pulled": False}

    def create(r: _Req) -> None:
        if not state["pulled"]:
            r.reply(404, {"message": "No such image: busybox:latest"})
        else:
            r.reply(201, {"Id": "c" * 64, "Warnings": []})

    def pull(r: _Req) -> None:
        state["pulled"] = True
        r.chunked([b'{"status":"Pulling from library/busybox","id":"latest"}\r\n'])

    def start(r: _Req) -> None:
        if start_error:
            r.reply(400, {"message": start_error})
        else:
            r.reply(204, b"")

    cid = "c" * 64
    routes[("POST", "/containers/create")] = create
    routes[("POST", "/images/create")] = pull
    routes[("POST", f"/containers/{cid}/attach")] = lambda r: r.upgrade(
        frame(1, b"hi\n") + frame(2, b"oops\n")
    )
    routes[("POST", f"/containers/{cid}/wait")] = lambda r: r.reply(200, {"StatusCode": 3})
    routes[("POST", f"/containers/{cid}/start")] = start


def test_run_flow_pulls_attaches_waits_and_exits_with_status(
    engine: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    sock, routes, log = engine
    _run_routes(routes, None)
    assert main(["-H", f"unix://{sock}", "run", "busybox", "echo", "hi"]) == 3
    out, err = capfd.readouterr()
    assert out == "hi\n"
    assert err.startswith("Unable to find image 'busybox:latest' locally\n")
    assert "oops\n" in err
    paths = [(m, p.split("?")[0].split("/", 2)[-1]) for m, p, _ in log]
    assert paths.index(("POST", f"containers/{'c' * 64}/attach")) < paths.index(
        ("POST", f"containers/{'c' * 64}/start")
    )
    assert paths.index(("POST", f"containers/{'c' * 64}/wait")) < paths.index(
        ("POST", f"containers/{'c' * 64}/start")
    )
    wait_url = next(p for m, p, _ in log if "/wait" in p)
    assert "condition=next-exit" in wait_url


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('exec: "nosuch": executable file not found in $PATH', 127),
        ("open /x: no such file or directory", 127),
        ("exec /etc: permission denied", 126),
        ("something else", 125),
    ],
)
def test_run_start_error_exit_codes(
    engine: Any, capfd: pytest.CaptureFixture[str], message: str, code: int
) -> None:
    sock, routes, _ = engine
    _run_routes(routes, message)
    assert main(["-H", f"unix://{sock}", "run", "busybox"]) == code
    err = capfd.readouterr().err
    assert f"dockyard: Error response from daemon: {message}\n" in err
    assert "Run 'dockyard run --help' for more information" in err


def test_multi_target_continues_past_errors(engine: Any, capfd: pytest.CaptureFixture[str]) -> None:
    sock, routes, _ = engine
    routes[("POST", "/containers/a/stop")] = lambda r: r.reply(204, b"")
    routes[("POST", "/containers/c/stop")] = lambda r: r.reply(204, b"")
    assert main(["-H", f"unix://{sock}", "stop", "a", "b", "c"]) == 1
    out, err = capfd.readouterr()
    assert out == "a\nc\n"
    assert err == "Error response from daemon: page not found: /containers/b/stop\n"


def test_inspect_missing_object(engine: Any, capfd: pytest.CaptureFixture[str]) -> None:
    sock, _, _ = engine
    assert main(["-H", f"unix://{sock}", "inspect", "nosuch"]) == 1
    out, err = capfd.readouterr()
    assert (out, err) == ("[]\n", "Error: No such object: nosuch\n")


def test_autostart_only_for_default_host_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    import io

    spawned: list[int] = []
    monkeypatch.setattr(autostart, "spawn_daemon", lambda: spawned.append(1) or 4242)
    monkeypatch.setattr(autostart, "wait_for_ping", lambda *a, **k: True)
    monkeypatch.setattr(autostart, "_systemd_unit", lambda: False)  # a host without the unit
    err = io.StringIO()
    missing = f"unix://{tmp_path}/missing.sock"
    autostart.connect(missing, is_default_host=False, err=err)
    assert spawned == [] and err.getvalue() == ""
    monkeypatch.setattr(autostart.os, "geteuid", lambda: 0)
    autostart.connect(missing, is_default_host=True, err=err)
    assert spawned == [1]
    assert err.getvalue() == "dockyard: started the daemon (pid 4242, log /var/log/dockyard.log)\n"
    sock, _, _ = engine
    autostart.connect(f"unix://{sock}", is_default_host=True, err=err)
    assert spawned == [1]  # the socket exists: no second daemon


def test_autostart_asks_systemd_when_the_unit_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#12: on a systemd host with dockyard.service, the CLI starts the unit, not a child."""
    import io

    started: list[str] = []
    monkeypatch.setattr(autostart, "_systemd_unit", lambda: True)
    monkeypatch.setattr(autostart, "start_unit", lambda: started.append("unit") or True)
    monkeypatch.setattr(autostart, "spawn_daemon", lambda: started.append("child") or 1)
    monkeypatch.setattr(autostart, "wait_for_ping", lambda *a, **k: True)
    monkeypatch.setattr(autostart.os, "geteuid", lambda: 0)
    err = io.StringIO()
    autostart.connect(f"unix://{tmp_path}/missing.sock", is_default_host=True, err=err)
    assert started == ["unit"]
    assert (
        err.getvalue()
        == "dockyard: started dockyard.service (journalctl -u dockyard for its log)\n"
    )


def test_wait_for_ping_polls_until_the_socket_answers(engine: Any) -> None:
    sock, _, _ = engine
    assert autostart.wait_for_ping(Client(sock), deadline=2.0)
    assert not autostart.wait_for_ping(Client(sock + ".none"), deadline=0.2)
