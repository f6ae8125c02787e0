"""The official docker CLI through dockyard's socket, command by command (E1-E4, S2-S6)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.compat.cli import docker
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.fixture
def running(daemon: Daemon) -> str:
    r = docker(daemon, "run", "-d", "--name", "cli-eng", "-l", "tier=web", "busybox", "sh", "-c",
               "for i in 1 2 3 4 5; do echo line$i; done; sleep 120")  # fmt: skip
    assert r.returncode == 0, r.stderr
    yield "cli-eng"
    docker(daemon, "rm", "-f", "cli-eng")


def test_logs_tail_timestamps_since(daemon: Daemon, running: str) -> None:
    """E4: logs --tail, -t, --since on the json-file log."""
    for _ in range(50):
        if docker(daemon, "logs", running).stdout.count("\n") == 5:
            break
    assert docker(daemon, "logs", "--tail", "2", running).stdout == "line4\nline5\n"
    ts = docker(daemon, "logs", "-t", "--tail", "1", running).stdout
    stamp, _, text = ts.partition(" ")
    assert text == "line5\n" and stamp.endswith("Z") and "T" in stamp
    assert docker(daemon, "logs", "--since", "2099-01-01T00:00:00Z", running).stdout == ""


def test_ps_filters_format_and_size(daemon: Daemon, running: str) -> None:
    out = docker(daemon, "ps", "--filter", "label=tier=web", "--format", "{{.Names}}").stdout
    assert out == "cli-eng\n"
    assert docker(daemon, "ps", "-q", "--filter", "label=tier=db").stdout == ""
    assert (
        docker(daemon, "ps", "--filter", "status=running", "--format", "{{.Names}}").stdout.count(
            "cli-eng"
        )
        == 1
    )
    assert docker(daemon, "ps", "--filter", "ancestor=busybox", "-q").stdout.strip() != ""
    sized = docker(daemon, "ps", "-s", "--filter", "name=cli-eng", "--format", "{{.Size}}").stdout
    assert "virtual" in sized  # S5: "0B (virtual 1.98MB)"


def test_top_pause_rename_restart(daemon: Daemon, running: str) -> None:
    top = docker(daemon, "top", running)
    assert top.returncode == 0 and "sleep 120" in top.stdout
    assert docker(daemon, "pause", running).returncode == 0
    assert (
        "(Paused)" in docker(daemon, "ps", "--format", "{{.Status}}", "-f", "name=cli-eng").stdout
    )
    assert docker(daemon, "unpause", running).returncode == 0
    assert docker(daemon, "rename", running, "cli-eng2").returncode == 0
    assert docker(daemon, "rename", "cli-eng2", running).returncode == 0
    pid1 = docker(daemon, "inspect", "-f", "{{.State.Pid}}", running).stdout
    assert docker(daemon, "restart", "-t", "0", running).returncode == 0
    pid2 = docker(daemon, "inspect", "-f", "{{.State.Pid}}", running).stdout
    assert pid1 != pid2 and int(pid2) > 0


def test_diff_commit_history_rmi(daemon: Daemon) -> None:
    """S3, S6: docker diff kinds; commit adds one layer; rmi of an image in use is refused."""
    r = docker(
        daemon,
        "run",
        "--name",
        "cli-diff",
        "busybox",
        "sh",
        "-c",
        "mkdir /newdir && echo x > /newdir/f && rm /bin/vi",
    )
    assert r.returncode == 0, r.stderr
    diff = docker(daemon, "diff", "cli-diff").stdout.splitlines()
    assert (
        "A /newdir" in diff and "A /newdir/f" in diff and "D /bin/vi" in diff and "C /bin" in diff
    )
    r = docker(
        daemon, "commit", "-m", "added newdir", "-c", "ENV FOO=bar", "cli-diff", "cli-commit:1"
    )
    assert r.returncode == 0, r.stderr
    hist = docker(daemon, "history", "--format", "{{.Comment}}", "cli-commit:1").stdout.splitlines()
    assert hist[0] == "added newdir"
    env = docker(daemon, "inspect", "-f", "{{json .Config.Env}}", "cli-commit:1").stdout
    assert "FOO=bar" in json.loads(env)
    r = docker(daemon, "run", "--rm", "cli-commit:1", "cat", "/newdir/f")
    assert r.stdout == "x\n"
    docker(daemon, "create", "--name", "cli-user", "cli-commit:1")
    r = docker(daemon, "rmi", "cli-commit:1")
    assert (
        r.returncode == 1
        and "container" in r.stderr
        and "is using its referenced image" in r.stderr
    )
    docker(daemon, "rm", "cli-user", "cli-diff")
    assert docker(daemon, "rmi", "cli-commit:1").returncode == 0


def test_export_import_save_load(daemon: Daemon, tmp_path: object) -> None:
    """E3: export | import gives a one-layer image; save | load keeps the id."""
    docker(daemon, "create", "--name", "cli-exp", "busybox", "true")
    exp = subprocess.run(
        ["docker", "export", "cli-exp"], env=daemon.env(), capture_output=True, check=True
    )
    assert len(exp.stdout) > 1_000_000
    imp = subprocess.run(["docker", "import", "-", "cli-imported:1"], env=daemon.env(), input=exp.stdout,
                         capture_output=True, check=True)  # fmt: skip
    assert imp.stdout.decode().startswith("sha256:")
    assert docker(daemon, "run", "--rm", "cli-imported:1", "echo", "ok").stdout == "ok\n"
    img_id = docker(daemon, "inspect", "-f", "{{.Id}}", "cli-imported:1").stdout
    saved = subprocess.run(
        ["docker", "save", "cli-imported:1"], env=daemon.env(), capture_output=True, check=True
    )
    docker(daemon, "rmi", "cli-imported:1")
    loaded = subprocess.run(
        ["docker", "load"], env=daemon.env(), input=saved.stdout, capture_output=True, check=True
    )
    assert b"Loaded image: cli-imported:1" in loaded.stdout
    assert docker(daemon, "inspect", "-f", "{{.Id}}", "cli-imported:1").stdout == img_id
    docker(daemon, "rm", "cli-exp")
    docker(daemon, "rmi", "cli-imported:1")


def test_events_stream(daemon: Daemon) -> None:
    """E1: events with filters and --until replay what happened."""
    r = docker(daemon, "run", "--rm", "--name", "cli-ev", "busybox", "true")
    assert r.returncode == 0
    time.sleep(1.1)  # the CLI sends --until in whole seconds
    ev = docker(daemon, "events", "--since", "5m", "--until", "0s", "--filter", "container=cli-ev",
                "--format", "{{.Action}}")  # fmt: skip
    actions = ev.stdout.split()
    for a in ("create", "attach", "start", "die", "destroy"):
        assert a in actions, ev.stdout
    assert actions.index("create") < actions.index("start") < actions.index("die")
