"""E1: the official docker CLI against our server with fake services: negotiation, hijacked
exec/attach with stdin half-close, events, errors. Skipped when the CLI is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import clis
from tests.unit.api_fakes import FakeEngine, ServerThread

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(FakeEngine(), tmp_path / "api.sock").start()
    status, _, _ = srv.request(
        "POST", "/containers/create?name=web", {"Image": "busybox", "OpenStdin": True}
    )
    assert status == 201
    srv.engine.containers.exit_code = 0
    yield srv
    srv.stop()


def _docker(
    server: ServerThread, tmp_path: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST=f"unix://{server.sock}", DOCKER_CONFIG=str(tmp_path / "cfg"))
    return subprocess.run(
        ["docker", *args], env=env, input=input, capture_output=True, text=True, timeout=20
    )


def test_version_negotiates_1_44(server: ServerThread, tmp_path: Path) -> None:
    """E1: docker version sees our server and API version."""
    out = _docker(server, tmp_path, "version", "--format", "{{.Server.APIVersion}}")
    assert (out.returncode, out.stdout.strip()) == (0, "1.44"), out.stderr


def test_exec_and_attach_round_trip(server: ServerThread, tmp_path: Path) -> None:
    """E1/E4: `docker exec -i` and `docker attach` send stdin, half-close, get demuxed output."""
    out = _docker(server, tmp_path, "exec", "-i", "web", "cat", input="abc\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello\nABC\n" and out.stderr == "bye\n"
    out = _docker(server, tmp_path, "attach", "web", input="zz\n")
    assert (out.returncode, out.stdout, out.stderr) == (0, "hello\nZZ\n", "bye\n")


def test_events_and_errors(server: ServerThread, tmp_path: Path) -> None:
    """E1: docker events prints replayed events and ends at --until; errors are shown verbatim."""
    server.engine.events.publish("container", "start", "a" * 64, {"name": "web"})
    until = str(int(time.time()) + 1)
    out = _docker(server, tmp_path, "events", "--since", "0", "--until", until)
    assert out.returncode == 0 and "container start " + "a" * 64 + " (name=web)" in out.stdout
    out = _docker(server, tmp_path, "rm", "ghost")
    assert out.returncode == 1
    # A 404: CLI 20.10 then prints its own words, a current CLI the daemon's message.
    said = "Error response from daemon: " if clis.major() >= 23 else "Error: "
    assert f"{said}No such container: ghost" in out.stderr
    out = _docker(server, tmp_path, "wait", "web")
    assert (out.returncode, out.stdout) == (0, "0\n")
