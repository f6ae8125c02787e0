"""Healthchecks (#15, E6) through the official clients: the docker CLI's `run --health-*`, `ps`
STATUS and `--filter health=`, `inspect`; docker-py's `container.health`; docker-compose's
`depends_on: condition: service_healthy`; the dockyard CLI's flags; and State.Health, the image's
Healthcheck and its history line side by side with a real dockerd (the oracle)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.compat.cli import docker, ok
from tests.conftest import Daemon, until

pytestmark = [pytest.mark.compat, pytest.mark.integration]

COMPOSE = os.environ.get("COMPOSE_V1", "/usr/bin/docker-compose")


def _name(prefix: str) -> str:
    return f"{prefix}{random.randint(0, 1 << 30)}"


def test_docker_cli_run_ps_status_and_filter(daemon: Daemon) -> None:
    good, bad, slow = _name("hc-good"), _name("hc-bad"), _name("hc-slow")
    try:
        ok(docker(daemon, "run", "-d", "--name", good, "--health-cmd", "true",
                  "--health-interval", "300ms", "busybox", "sleep", "300"))  # fmt: skip
        ok(docker(daemon, "run", "-d", "--name", bad, "--health-cmd", "echo sick; exit 1",
                  "--health-interval", "300ms", "--health-retries", "2",
                  "busybox", "sleep", "300"))  # fmt: skip
        ok(docker(daemon, "run", "-d", "--name", slow, "--health-cmd", "true",
                  "--health-interval", "1m", "busybox", "sleep", "300"))  # fmt: skip

        def health(name: str) -> str:
            return ok(docker(daemon, "inspect", "-f", "{{.State.Health.Status}}", name)).strip()

        assert until(lambda: health(good) == "healthy" and health(bad) == "unhealthy", 8)

        def rows(value: str) -> dict[str, str]:
            out = ok(docker(daemon, "ps", "--filter", f"health={value}", "--format",
                            "{{.Names}}\t{{.Status}}"))  # fmt: skip
            return dict(line.split("\t") for line in out.splitlines())

        assert rows("healthy")[good].endswith(" (healthy)") and bad not in rows("healthy")
        assert rows("unhealthy")[bad].endswith(" (unhealthy)")
        assert rows("starting")[slow].endswith(" (health: starting)")
        assert not {good, bad, slow} & set(rows("none"))
        table = ok(docker(daemon, "ps", "--filter", f"name={good}"))
        assert "(healthy)" in table and "Up " in table
        r = docker(daemon, "ps", "--filter", "health=bogus")
        assert r.returncode == 1
        assert "Error response from daemon: Unrecognised filter value for health: bogus" in r.stderr
        log = json.loads(ok(docker(daemon, "inspect", "-f", "{{json .State.Health}}", bad)))
        assert log["FailingStreak"] >= 2 and log["Log"][-1]["Output"] == "sick\n"
        assert log["Log"][-1]["ExitCode"] == 1
        r = docker(daemon, "run", "--rm", "--health-interval", "2", "busybox", "true")
        assert r.returncode != 0 and 'missing unit in duration "2"' in r.stderr
    finally:
        docker(daemon, "rm", "-f", good, bad, slow)


def test_docker_cli_build_healthcheck_and_no_healthcheck(daemon: Daemon, tmp_path: Path) -> None:
    tag = _name("hc-img")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=300ms --retries=1 CMD test -e /tmp/up\n"
    )
    ok(docker(daemon, "build", "-q", "-t", tag, str(tmp_path), env={"DOCKER_BUILDKIT": "0"}))
    names = [_name("hc-img-on"), _name("hc-img-off")]
    try:
        hc = json.loads(ok(docker(daemon, "image", "inspect", "-f", "{{json .Config.Healthcheck}}",
                                  tag)))  # fmt: skip
        assert hc == {"Test": ["CMD-SHELL", "test -e /tmp/up"], "Interval": 300_000_000,
                      "Retries": 1}  # fmt: skip
        ok(docker(daemon, "run", "-d", "--name", names[0], tag, "sleep", "300"))
        ok(docker(daemon, "run", "-d", "--name", names[1], "--no-healthcheck", tag, "sleep", "300"))
        state = lambda n: ok(docker(daemon, "inspect", "-f", "{{json .State.Health}}", n)).strip()  # noqa: E731
        assert until(lambda: '"unhealthy"' in state(names[0]), 6)
        ok(docker(daemon, "exec", names[0], "touch", "/tmp/up"))
        assert until(lambda: '"healthy"' in state(names[0]), 6)
        assert state(names[1]) == "null"
        out = ok(docker(daemon, "ps", "--filter", f"name={names[1]}", "--format", "{{.Status}}"))
        assert out.startswith("Up ") and "(" not in out
        r = docker(daemon, "run", "--rm", "--no-healthcheck", "--health-cmd", "x", tag)
        assert (
            r.returncode == 125 and "--no-healthcheck conflicts with --health-* options" in r.stderr
        )
    finally:
        docker(daemon, "rm", "-f", *names)
        docker(daemon, "rmi", tag)


def test_dockyard_cli_health_flags(daemon: Daemon) -> None:
    name = _name("hc-dy")
    try:
        r = daemon.dockyard("run", "-d", "--name", name, "--health-cmd", "echo fine",
                            "--health-interval", "300ms", "--health-timeout", "2s",
                            "--health-retries", "4", "--health-start-period", "1s",
                            "busybox", "sleep", "300")  # fmt: skip
        assert r.returncode == 0, r.stderr
        cfg = daemon.api("GET", f"/containers/{name}/json")[1]["Config"]["Healthcheck"]
        assert cfg == {"Test": ["CMD-SHELL", "echo fine"], "Interval": 300_000_000,
                       "Timeout": 2_000_000_000, "StartPeriod": 1_000_000_000, "Retries": 4}  # fmt: skip
        assert until(lambda: "(healthy)" in daemon.dockyard("ps", "--filter", f"name={name}").stdout,
                      6)  # fmt: skip
        r = daemon.dockyard("run", "--rm", "--no-healthcheck", "--health-retries", "1", "busybox")
        assert (
            r.returncode == 125 and "--no-healthcheck conflicts with --health-* options" in r.stderr
        )
        r = daemon.dockyard("run", "--rm", "--health-timeout=-1s", "busybox")
        assert r.returncode == 125 and "--health-timeout cannot be negative" in r.stderr
    finally:
        daemon.dockyard("rm", "-f", name)


def test_docker_py_container_health(daemon: Daemon) -> None:
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=daemon.host, version="auto")
    c = None
    try:
        c = client.containers.run(
            "busybox", ["sleep", "300"], detach=True,
            healthcheck={"test": ["CMD", "true"], "interval": 300_000_000, "retries": 1},
        )  # fmt: skip
        c.reload()
        assert c.health == "starting"

        def healthy() -> bool:
            assert c is not None
            c.reload()
            return bool(c.health == "healthy")

        assert until(healthy, 6)
        assert c.attrs["State"]["Health"]["Log"][-1]["ExitCode"] == 0
        plain = client.containers.run("busybox", ["sleep", "300"], detach=True)
        plain.reload()
        assert plain.health == "unknown"  # no Health in State
        ids = [x.id for x in client.containers.list(filters={"health": "healthy"})]
        assert c.id in ids and plain.id not in ids
        plain.remove(force=True)
    finally:
        if c is not None:
            c.remove(force=True)
        client.close()


COMPOSE_PROJECT = """version: "2.4"
services:
  db:
    image: busybox
    command: sh -c "sleep 2; touch /tmp/ready; sleep 300"
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ready"]
      interval: 300ms
      retries: 30
  app:
    image: busybox
    command: sleep 300
    depends_on:
      db:
        condition: service_healthy
"""


def test_compose_depends_on_service_healthy(daemon: Daemon, tmp_path: Path) -> None:
    assert Path(COMPOSE).exists(), f"{COMPOSE} is missing: scripts/install installs docker-compose"
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_PROJECT)
    project = _name("hc")

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMPOSE, "-p", project, *args], cwd=tmp_path, env=daemon.env(),
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    try:
        r = compose("up", "-d")
        assert r.returncode == 0, r.stderr
        db = daemon.api("GET", f"/containers/{project}_db_1/json")[1]
        app = daemon.api("GET", f"/containers/{project}_app_1/json")[1]
        healthy_at = min(e["End"] for e in db["State"]["Health"]["Log"] if e["ExitCode"] == 0)
        assert db["State"]["Health"]["Status"] == "healthy"
        # app started only once db was healthy (compose polls db's State.Health)
        assert app["State"]["StartedAt"] > healthy_at > db["State"]["StartedAt"]
        assert app["State"]["Status"] == "running"
    finally:
        r = compose("down", "-v")
    assert r.returncode == 0, r.stderr


def _oracle_docker(sock: str, *args: str) -> str:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_BUILDKIT": "0"}
    r = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def _shape(health: dict[str, Any]) -> dict[str, Any]:
    """State.Health without times: keys, statuses, exit codes and outputs."""
    return {"keys": sorted(health), "Status": health["Status"],
            "entry_keys": sorted({k for e in health["Log"] for k in e}),
            "results": {(e["ExitCode"], e["Output"]) for e in health["Log"]}}  # fmt: skip


def test_state_health_and_image_match_dockerd(daemon: Daemon, oracle: str, tmp_path: Path) -> None:
    """Differential: the same healthchecks on dockyard and on dockerd 20.10."""
    cases = {
        "fail": ["--health-cmd", "echo hi; exit 1", "--health-interval", "300ms",
                 "--health-retries", "2"],
        "slow": ["--health-cmd", "sleep 5", "--health-interval", "300ms",
                 "--health-timeout", "250ms", "--health-retries", "1"],
        "fine": ["--health-cmd", "echo ok", "--health-interval", "300ms"],
    }  # fmt: skip
    sock = str(daemon.socket)
    names = {k: _name(f"hc-diff-{k}") for k in cases}
    got: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for where in (sock, oracle):
            for k, flags in cases.items():
                _oracle_docker(where, "run", "-d", "--name", names[k], *flags,
                               "busybox", "sleep", "300")  # fmt: skip
        for where in (sock, oracle):
            got[where] = {}
            for k in cases:
                want = "healthy" if k == "fine" else "unhealthy"

                def settled(w: str = where, n: str = names[k], s: str = want) -> Any:
                    h = json.loads(_oracle_docker(w, "inspect", "-f", "{{json .State.Health}}", n))
                    return h if h["Status"] == s and len(h["Log"]) >= 2 else None

                got[where][k] = _shape(until(settled, 10) or {})
        assert got[sock] == got[oracle]
        assert got[sock]["slow"]["results"] == {(-1, "Health check exceeded timeout (250ms)")}
        for where in (sock, oracle):
            _oracle_docker(where, "stop", "-t", "0", names["fine"])
        stopped = [
            json.loads(
                _oracle_docker(w, "inspect", "-f", "{{json .State.Health}}", names["fine"])
            )  # fmt: skip
            for w in (sock, oracle)
        ]
        assert [(h["Status"], h["FailingStreak"]) for h in stopped] == [("unhealthy", 0)] * 2
    finally:
        for where in (sock, oracle):
            subprocess.run(["docker", "rm", "-f", *names.values()], capture_output=True,
                           env={**os.environ, "DOCKER_HOST": f"unix://{where}"})  # fmt: skip

    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=1s --timeout=2s --start-period=500ms --retries=3 "
        'CMD echo ok\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s CMD ["true"]\n'
    )
    seen = []
    for where in (sock, oracle):
        tag = _name("hc-diff-img")
        out = _oracle_docker(where, "build", "-t", tag, str(tmp_path))
        try:
            cfg = _oracle_docker(
                where, "image", "inspect", "-f", "{{json .Config.Healthcheck}}", tag
            )
            hist = _oracle_docker(where, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
            notes = [line for line in out.splitlines() if line.startswith("Note:")]
            seen.append((json.loads(cfg), hist.splitlines()[:3], notes))
        finally:
            _oracle_docker(where, "rmi", tag)
    assert seen[0] == seen[1]
    for where in (sock, oracle):
        (tmp_path / "Dockerfile").write_text(
            "FROM busybox\nHEALTHCHECK --start-interval=1s CMD true\n"
        )
        env = {**os.environ, "DOCKER_HOST": f"unix://{where}", "DOCKER_BUILDKIT": "0"}
        r = subprocess.run(["docker", "build", str(tmp_path)], env=env, capture_output=True,
                           text=True, timeout=60)  # fmt: skip
        assert r.returncode == 1
        assert "dockerfile parse error line 2: Unknown flag: start-interval" in r.stderr, where


def test_dockyard_cli_health_flags_match_docker(oracle: str) -> None:
    """The dockyard CLI's --health-* flags make the create body the docker CLI makes."""
    name = _name("hc-cli")
    flags = ["--health-cmd", "true", "--health-interval", "1m30s", "--health-retries", "2"]
    try:
        argv = [sys.executable, "-m", "dockyard", "-H", f"unix://{oracle}", "create", "--name",
                name, *flags, "busybox"]  # fmt: skip
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        mine = _oracle_docker(oracle, "inspect", "-f", "{{json .Config.Healthcheck}}", name)
        _oracle_docker(oracle, "rm", name)
        _oracle_docker(oracle, "create", "--name", name, *flags, "busybox")
        theirs = _oracle_docker(oracle, "inspect", "-f", "{{json .Config.Healthcheck}}", name)
        assert mine == theirs
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True,
                       env={**os.environ, "DOCKER_HOST": f"unix://{oracle}"})  # fmt: skip
