"""Crash safety (E4): a daemon killed with SIGKILL leaves containers running under their shims;
a restarted daemon re-adopts them and records exits that happened while it was down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon, private_daemon

pytestmark = pytest.mark.integration


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    with private_daemon("-lr", f"dyr{os.getpid()}") as d:
        yield d


def _start(d: Daemon, cmd: list[str]) -> str:
    status, out = d.api("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd})
    assert status == 201, out
    assert d.api("POST", f"/containers/{out['Id']}/start")[0] == 204
    return str(out["Id"])


def test_kill9_daemon_container_survives_and_is_readopted(own_daemon: Daemon) -> None:
    d = own_daemon
    long = _start(d, ["sh", "-c", "echo before; sleep 2; echo during; sleep 60"])
    short = _start(d, ["sh", "-c", "sleep 1; exit 5"])
    _, info = d.api("GET", f"/containers/{long}/json")
    pid = info["State"]["Pid"]
    d.stop(signal.SIGKILL)
    time.sleep(2.5)  # `short` exits and `long` logs while no daemon runs
    os.kill(pid, 0)  # still alive
    d.start()
    _, info = d.api("GET", f"/containers/{long}/json")
    assert info["State"]["Status"] == "running" and info["State"]["Pid"] == pid
    _, info = d.api("GET", f"/containers/{short}/json")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 5
    status, raw = d.api("GET", f"/containers/{long}/logs?stdout=1")
    assert b"before" in raw and b"during" in raw
    assert d.api("POST", f"/containers/{long}/stop?t=0")[0] == 204
    _, info = d.api("GET", f"/containers/{long}/json")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137


def test_restart_always_container_is_started_again_by_a_new_daemon(own_daemon: Daemon) -> None:
    """E4: a --restart always container that exited while no daemon ran is started at boot."""
    d = own_daemon
    status, out = d.api(
        "POST",
        "/containers/create",
        {"Image": "busybox", "Cmd": ["sh", "-c", "sleep 1; exit 2"],
         "HostConfig": {"RestartPolicy": {"Name": "always"}}},
    )  # fmt: skip
    assert status == 201, out
    cid = out["Id"]
    assert d.api("POST", f"/containers/{cid}/start")[0] == 204
    d.stop(signal.SIGKILL)
    time.sleep(1.5)
    d.start()
    _, info = d.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Status"] in ("running", "restarting")
    assert info["RestartCount"] >= 0
    assert d.api("POST", f"/containers/{cid}/stop?t=0")[0] == 204
    _, info = d.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Status"] == "exited"
