"""Crash safety (E4): a daemon killed with SIGKILL leaves containers running under their shims;
a restarted daemon re-adopts them and records exits that happened while it was down."""

from __future__ import annotations

import os
import signal
import subprocess
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


def test_freezer_left_apart_from_the_record_is_settled_at_restart(own_daemon: Daemon) -> None:
    """R1: a daemon killed between freezing a container and saving it (commit pauses the
    source; pause saves after runc) must not leave a "running" container frozen, nor a thawed
    one recorded as paused."""
    d = own_daemon
    frozen = _start(d, ["sleep", "600"])
    thawed = _start(d, ["sleep", "600"])
    assert d.api("POST", f"/containers/{thawed}/pause")[0] == 204
    runc = ["runc", "--root", str(d.exec_root / "runc")]
    subprocess.run([*runc, "pause", frozen], check=True)  # as a commit cut short leaves it
    subprocess.run([*runc, "resume", thawed], check=True)  # as an unpause cut short
    assert d.cgroups.frozen(frozen) and not d.cgroups.frozen(thawed)
    d.stop(signal.SIGKILL)
    d.start()
    for cid in (frozen, thawed):
        _, info = d.api("GET", f"/containers/{cid}/json")
        assert (info["State"]["Status"], info["State"]["Paused"]) == ("running", False)
        assert not d.cgroups.frozen(cid)
        r = d.dockyard("exec", cid, "echo", "alive")
        assert (r.returncode, r.stdout) == (0, "alive\n"), r.stderr
