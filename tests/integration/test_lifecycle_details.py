"""#15 (E4, E6): lifecycle details as dockerd 20.10 has them, side by side with the oracle where
both can run the same thing: `kill` (SIGKILL) returns after the exit and another signal does not
wait; `wait --condition`; `-e NAME` unset in the client; `HostConfig.Links`; `rm` of a
restarting container; `rm -f` of a paused one; and restart policies when a daemon killed with
SIGKILL starts again (RestartCount as dockerd counts it)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon, private_daemon

pytestmark = pytest.mark.integration


def _docker_at(
    sock: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DOCKER_HOST": f"unix://{sock}", **(env or {})}
    full.pop("FOO", None)
    return subprocess.run(["docker", *args], env=full, capture_output=True, text=True, timeout=60)


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.args, r.stderr)
    return r.stdout


def _both(daemon: Daemon, oracle: str) -> list[str]:
    return [str(daemon.socket), oracle]


def _inspect(sock: str, fmt: str, name: str) -> str:
    return _ok(_docker_at(sock, "inspect", "-f", fmt, name)).strip()


def test_kill_returns_after_the_exit_but_other_signals_do_not_wait(
    daemon: Daemon, oracle: str
) -> None:
    for sock in _both(daemon, oracle):
        try:
            _ok(_docker_at(sock, "run", "-d", "--name", "lc-kill", "busybox", "sleep", "1d"))
            _ok(_docker_at(sock, "kill", "lc-kill"))
            assert (
                _inspect(sock, "{{.State.Status}} {{.State.ExitCode}}", "lc-kill") == "exited 137"
            )
            trap = "trap 'echo usr1' USR1; touch /tmp/ready; while true; do sleep 0.1; done"
            _ok(_docker_at(sock, "run", "-d", "--name", "lc-usr1", "busybox", "sh", "-c", trap))
            deadline = time.time() + 10
            while _docker_at(sock, "exec", "lc-usr1", "test", "-e", "/tmp/ready").returncode:
                assert time.time() < deadline
            started = time.monotonic()
            _ok(_docker_at(sock, "kill", "-s", "SIGUSR1", "lc-usr1"))
            assert time.monotonic() - started < 5
            assert _inspect(sock, "{{.State.Status}}", "lc-usr1") == "running"
            deadline = time.time() + 10
            while "usr1" not in _docker_at(sock, "logs", "lc-usr1").stdout:
                assert time.time() < deadline
                time.sleep(0.1)
        finally:
            _docker_at(sock, "rm", "-f", "lc-kill", "lc-usr1")


def _wait_api(sock: str, name: str, condition: str, out: dict[str, Any]) -> None:
    r = subprocess.run(["curl", "-s", "--unix-socket", sock, "-X", "POST",
                        f"http://x/v1.41/containers/{name}/wait?condition={condition}"],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    out[condition] = json.loads(r.stdout)


def _conditions(sock: str) -> dict[str, Any]:
    """not-running answers at once for a created container; next-exit waits for the run that
    follows; removed waits for rm; an unknown condition is not-running in dockerd 20.10."""
    _ok(_docker_at(sock, "create", "--name", "lc-wait", "busybox", "sh", "-c", "sleep 1; exit 3"))
    seen: dict[str, Any] = {}
    try:
        _wait_api(sock, "lc-wait", "not-running", seen)
        _wait_api(sock, "lc-wait", "bogus", seen)
        waiters = [threading.Thread(target=_wait_api, args=(sock, "lc-wait", c, seen))
                   for c in ("next-exit", "removed")]  # fmt: skip
        for t in waiters:
            t.start()
        time.sleep(0.5)
        assert "next-exit" not in seen and "removed" not in seen
        _ok(_docker_at(sock, "start", "lc-wait"))
        waiters[0].join(20)
        assert "removed" not in seen
        seen["exited"] = _inspect(sock, "{{.State.Status}}", "lc-wait")
        _ok(_docker_at(sock, "rm", "lc-wait"))
        waiters[1].join(20)
        return seen
    finally:
        _docker_at(sock, "rm", "-f", "lc-wait")


def test_wait_conditions_as_dockerd(daemon: Daemon, oracle: str) -> None:
    ours, theirs = (_conditions(sock) for sock in _both(daemon, oracle))
    assert ours == theirs
    assert ours["next-exit"] == {"StatusCode": 3, "Error": None} == ours["removed"]
    assert ours["not-running"] == {"StatusCode": 0, "Error": None}


def test_env_without_a_value_is_kept_and_not_set(daemon: Daemon, oracle: str) -> None:
    for sock in _both(daemon, oracle):
        try:
            out = _ok(_docker_at(sock, "run", "--name", "lc-env", "-e", "FOO", "-e", "BAR=1",
                                 "busybox", "env"))  # fmt: skip
            assert "BAR=1" in out.splitlines() and not re.search(r"^FOO", out, re.M), out
            env = json.loads(_inspect(sock, "{{json .Config.Env}}", "lc-env"))
            assert "FOO" in env and "BAR=1" in env and not any(e.startswith("FOO=") for e in env)
        finally:
            _docker_at(sock, "rm", "-f", "lc-env")
    # the API's own "NAME" also unsets a default the engine would set (PATH)
    status, out = daemon.api("POST", "/containers/create",
                             {"Image": "busybox", "Env": ["PATH"], "Cmd": ["/bin/env"]})  # fmt: skip
    assert status == 201, out
    try:
        assert daemon.api("POST", f"/containers/{out['Id']}/start")[0] == 204
        assert daemon.api("POST", f"/containers/{out['Id']}/wait")[1]["StatusCode"] == 0
        _, logs = daemon.api("GET", f"/containers/{out['Id']}/logs?stdout=1")
        assert b"HOSTNAME=" in logs and b"PATH=" not in logs
        assert daemon.api("GET", f"/containers/{out['Id']}/json")[1]["Config"]["Env"] == ["PATH"]
    finally:
        daemon.api("DELETE", f"/containers/{out['Id']}?force=1")


def test_links_read_as_dockerd_and_still_work(daemon: Daemon, oracle: str) -> None:
    for sock in _both(daemon, oracle):
        try:
            _ok(_docker_at(sock, "run", "-d", "--name", "lc-db", "busybox", "sleep", "1d"))
            _ok(_docker_at(sock, "run", "-d", "--name", "lc-web", "--link", "lc-db:alias",
                           "busybox", "sleep", "1d"))  # fmt: skip
            assert (
                _inspect(sock, "{{json .HostConfig.Links}}", "lc-web") == '["/lc-db:/lc-web/alias"]'
            )
            assert _inspect(sock, "{{json .HostConfig.Links}}", "lc-db") == "null"
        finally:
            _docker_at(sock, "rm", "-f", "lc-web", "lc-db")
    # on dockyard's bridge the alias resolves and answers (the oracle runs without a bridge)
    sock = str(daemon.socket)
    try:
        _ok(_docker_at(sock, "run", "-d", "--name", "lc-db", "busybox", "sleep", "1d"))
        _ok(_docker_at(sock, "run", "-d", "--name", "lc-web", "--link", "lc-db:alias",
                       "busybox", "sleep", "1d"))  # fmt: skip
        _ok(_docker_at(sock, "exec", "lc-web", "ping", "-c1", "-W2", "alias"))
    finally:
        _docker_at(sock, "rm", "-f", "lc-web", "lc-db")


def _neutral(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{64}\b", "<ID>", text)


def test_rm_of_a_restarting_container_and_rm_f_of_a_paused_one(daemon: Daemon, oracle: str) -> None:
    answers = []
    for sock in _both(daemon, oracle):
        try:
            _ok(_docker_at(sock, "run", "-d", "--name", "lc-rs", "--restart", "always",
                           "busybox", "false"))  # fmt: skip
            # from the 4th restart on, dockerd's back-off waits 1.6 s and more: time for rm
            deadline = time.time() + 30
            while True:
                status, count = _inspect(
                    sock, "{{.State.Status}} {{.RestartCount}}", "lc-rs"
                ).split()
                if status == "restarting" and int(count) >= 4:
                    break
                assert time.time() < deadline
                time.sleep(0.02)
            refused = _docker_at(sock, "rm", "lc-rs")
            answers.append((refused.returncode, _neutral(refused.stderr)))
            _ok(_docker_at(sock, "rm", "-f", "lc-rs"))
            assert _docker_at(sock, "inspect", "lc-rs").returncode == 1
            _ok(_docker_at(sock, "run", "-d", "--name", "lc-paused", "busybox", "sleep", "1d"))
            _ok(_docker_at(sock, "pause", "lc-paused"))
            assert _ok(_docker_at(sock, "rm", "-f", "lc-paused")) == "lc-paused\n"
            assert _docker_at(sock, "inspect", "lc-paused").returncode == 1
        finally:
            _docker_at(sock, "rm", "-f", "lc-rs", "lc-paused")
    assert answers[0] == answers[1]
    assert answers[0][0] == 1
    assert (
        "You cannot remove a restarting container <ID>. Stop the container before" in answers[0][1]
    )


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    with private_daemon("-lcd", f"dyc{os.getpid()}") as d:
        yield d


def _state(d: Daemon, name: str) -> tuple[str, int, int]:
    _, info = d.api("GET", f"/containers/{name}/json")
    return info["State"]["Status"], info["State"]["ExitCode"], info["RestartCount"]


def test_restart_policies_across_a_daemon_sigkill(own_daemon: Daemon) -> None:
    """As dockerd 20.10 killed with SIGKILL and started again (checked by hand against it; the
    oracle's dockerd stops running containers at its start, dockyard keeps them: live-restore):
    `always` runs again even after the user stopped it, `unless-stopped` only if the user did
    not, `on-failure` after a non-zero exit (a kill's 137 too) with retries left; an exhausted
    `on-failure` stays exited with its count; a user's start begins a new count."""
    d = own_daemon

    def run(name: str, policy: str, *cmd: str) -> None:
        r = d.dockyard("run", "-d", "--name", name, "--restart", policy, "busybox", *cmd)
        assert r.returncode == 0, r.stderr

    run("ra", "always", "sleep", "1d")
    run("rb", "always", "sleep", "1d")
    assert d.dockyard("stop", "-t", "0", "rb").returncode == 0
    run("rc", "unless-stopped", "sleep", "1d")
    run("rd", "unless-stopped", "sleep", "1d")
    assert d.dockyard("stop", "-t", "0", "rd").returncode == 0
    run("re", "on-failure:5", "sleep", "1d")
    assert d.dockyard("kill", "re").returncode == 0
    run("rf", "on-failure:2", "sh", "-c", "exit 2")
    deadline = time.time() + 20
    while _state(d, "rf") != ("exited", 2, 2):
        assert time.time() < deadline
        time.sleep(0.1)
    assert _state(d, "re") == ("exited", 137, 0)
    pid = d.api("GET", "/containers/rc/json")[1]["State"]["Pid"]
    run("rg", "unless-stopped", "sh", "-c", "sleep 1; exit 4")  # exits while no daemon runs
    d.stop(signal.SIGKILL)
    time.sleep(1.5)
    d.start()
    for name in ("ra", "rb", "rc", "re", "rg"):
        assert _state(d, name) == ("running", 0, 0), name
    assert d.api("GET", "/containers/rc/json")[1]["State"]["Pid"] == pid  # re-adopted
    assert _state(d, "rd") == ("exited", 137, 0)
    assert _state(d, "rf") == ("exited", 2, 2)
    assert d.dockyard("start", "rf").returncode == 0
    deadline = time.time() + 20
    while _state(d, "rf") != ("exited", 2, 2):  # counted afresh from 0 up to 2 again
        assert time.time() < deadline
        time.sleep(0.1)


def test_rm_force_of_a_container_whose_exit_is_never_reported(daemon: Daemon) -> None:
    """R1: `rm -f` must not wait forever for an exit nobody reports (its shim stopped, as a
    shim lost or a record saved over an exit leaves it): after SIGKILL it waits a bounded time,
    sees that runc runs nothing, and removes the container."""
    from tests.conftest import UnixHTTPConnection

    status, out = daemon.api("POST", "/containers/create", {"Image": "busybox",
                                                            "Cmd": ["sleep", "600"]})  # fmt: skip
    assert status == 201, out
    cid = out["Id"]
    assert daemon.api("POST", f"/containers/{cid}/start")[0] == 204
    pid = daemon.api("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
    with open(f"/proc/{pid}/stat") as f:
        shim = int(f.read().rsplit(")", 1)[1].split()[1])
    os.kill(shim, signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGKILL)  # a zombie now: its parent, the shim, cannot reap it
        conn = UnixHTTPConnection(str(daemon.socket), timeout=60)
        t0 = time.monotonic()
        conn.request("DELETE", f"/containers/{cid}?force=1")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 204, body
        assert time.monotonic() - t0 < 30
        assert daemon.api("GET", f"/containers/{cid}/json")[0] == 404
    finally:
        os.kill(shim, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{shim}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{shim}"), "the shim ends once it runs again"
