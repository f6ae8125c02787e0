"""Docker is the oracle for events (#15 item 6, E6): one scripted sequence of container, image,
network and volume operations on a private dockerd and on dockyard, then `docker events --since
--until` from each; the normalized lists (type, action, attribute keys and the deterministic
values) must be the same, event for event and in order."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests import oracle as oracle_dockerd
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

# The attribute values that do not depend on the daemon (ids and digests do).
STABLE = ("name", "image", "exitCode", "signal", "oldName", "type", "destination", "read/write",
          "propagation", "driver", "comment", "imageRef", "app", "height", "width", "evd")  # fmt: skip


def _steps(tmp: Path) -> list[tuple[str, ...]]:
    return [
        ("volume", "create", "evd-vol"),
        ("network", "create", "evd-net"),
        (
            "create",
            "--name",
            "evd-c",
            "--label",
            "app=evd",
            "--network",
            "none",
            "-v",
            "evd-vol:/data",
            "busybox",
            "sleep",
            "300",
        ),  # fmt: skip
        ("start", "evd-c"),
        ("exec", "evd-c", "true"),
        ("exec", "evd-c", "sh", "-c", "exit 3"),
        ("pause", "evd-c"),
        ("unpause", "evd-c"),
        ("rename", "evd-c", "evd-c2"),
        ("update", "--cpu-shares", "512", "evd-c2"),
        ("top", "evd-c2"),
        ("kill", "-s", "USR1", "evd-c2"),
        ("stop", "-t", "1", "evd-c2"),
        ("restart", "-t", "1", "evd-c2"),
        ("restart", "-t", "1", "evd-c2"),  # a running one: stopped, then started again
        ("commit", "evd-c2", "evd-img:c"),
        ("cp", "evd-c2:/etc/hostname", str(tmp / "h")),
        ("cp", str(tmp / "h"), "evd-c2:/tmp/h"),
        ("export", "-o", str(tmp / "x.tar"), "evd-c2"),
        ("rm", "-f", "evd-c2"),
        ("run", "--rm", "--name", "evd-h", "--network", "host", "busybox", "true"),
        ("run", "-d", "-t", "--name", "evd-t", "--network", "none", "busybox", "sleep", "300"),
        ("@resize", "evd-t"),
        ("rm", "-f", "evd-t"),
        ("tag", "busybox", "evd-img:t"),
        ("save", "-o", str(tmp / "s.tar"), "evd-img:t"),
        ("rmi", "evd-img:t"),
        ("load", "-i", str(tmp / "s.tar")),
        ("import", str(tmp / "x.tar"), "evd-img:i"),
        ("rmi", "evd-img:i"),
        ("rmi", "evd-img:t"),
        ("rmi", "evd-img:c"),
        ("create", "--name", "evd-n", "--network", "evd-net", "busybox", "true"),
        ("run", "--name", "evd-r", "--network", "evd-net", "busybox", "sh", "-c", "exit 2"),
        ("network", "disconnect", "evd-net", "evd-r"),
        ("network", "connect", "evd-net", "evd-r"),
        ("rm", "evd-r"),
        ("rm", "evd-n"),
        ("network", "rm", "evd-net"),
        ("volume", "rm", "evd-vol"),
        # prunes limited by a label, so nothing of other tests goes on the shared daemon
        ("create", "--name", "evd-p", "--label", "evd=1", "--network", "none", "busybox", "true"),
        ("container", "prune", "-f", "--filter", "label=evd=1"),
        ("network", "create", "--label", "evd=1", "evd-net2"),
        ("network", "prune", "-f", "--filter", "label=evd=1"),
        ("volume", "create", "--label", "evd=1", "evd-vol2"),
        ("volume", "prune", "-f", "--filter", "label=evd=1"),
        ("tag", "busybox", "evd-img:p"),
        ("image", "prune", "-f", "--filter", "label=evd=1"),
        ("rmi", "evd-img:p"),
    ]


def _run_sequence(sock: str) -> tuple[list[int], list[dict[str, Any]]]:
    codes = []
    with tempfile.TemporaryDirectory() as tmp:
        since = time.time()
        for step in _steps(Path(tmp)):
            if step[0] == "@resize":  # no CLI command resizes a detached container's tty
                codes.append(_resize(sock, step[1]))
                continue
            codes.append(oracle_dockerd.docker(sock, *step).returncode)
        time.sleep(0.5)
        until = time.time()
        out = oracle_dockerd.docker(sock, "events", "--since", f"{since:.6f}",
                                    "--until", f"{until:.6f}", "--format", "{{json .}}")  # fmt: skip
    assert out.returncode == 0, out.stderr
    return codes, [json.loads(line) for line in out.stdout.decode().splitlines()]


def _resize(sock: str, name: str) -> int:
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "--unix-socket", sock, f"http://d/v1.41/containers/{name}/resize?h=30&w=100"],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    return int(r.stdout or 0)


def _normalized(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Keep what the sequence made (other tests' leftovers may publish too), with ids replaced
    by the names they stand for."""
    names = {e["Actor"]["ID"]: e["Actor"]["Attributes"].get("name", "") for e in events
             if e["Type"] == "container"}  # fmt: skip
    images = {e["Actor"]["ID"] for e in events if e["Type"] == "image"
              and e["Actor"]["Attributes"].get("name", "").startswith("evd-img")}  # fmt: skip
    out = []
    for e in events:
        actor, attrs = e["Actor"]["ID"], e["Actor"]["Attributes"]
        mine = e["Action"] == "prune" or {
            "container": actor in names and names[actor].startswith("evd-"),
            "image": actor in images,
            "network": attrs.get("name", "").startswith("evd-") or attrs.get("container") in names,
            "volume": actor.startswith("evd-"),
        }.get(e["Type"], False)
        if not mine:
            continue
        values = {k: v for k, v in attrs.items() if k in STABLE and not v.startswith("sha256:")}
        if "container" in attrs:
            values["container"] = names.get(attrs["container"], "?")
        action = e["Action"]
        legacy = (
            (e.get("status"), "id" in e, e.get("from"))
            if e["Type"] in ("container", "image")
            else ()
        )
        out.append((e["Type"], action, tuple(sorted(attrs)), tuple(sorted(values.items())), legacy))
    return out


def test_same_events_as_dockerd(oracle: str, daemon: Daemon) -> None:
    """E6: the full event set: create/start/exec/pause/unpause/rename/update/top/kill/stop/
    restart/commit/cp/export/rm with their network connect/disconnect and volume mount/unmount,
    tag/save/untag/load/import/delete, network create/connect/disconnect/destroy, volume
    create/destroy; the same actions, attribute keys, names, exit codes and signals, in order."""
    want_codes, want = _run_sequence(oracle)
    got_codes, got = _run_sequence(str(daemon.socket))
    assert got_codes == want_codes
    want_n, got_n = _normalized(want), _normalized(got)
    assert len(want_n) > 60  # the oracle saw the whole sequence
    for i, (w, g) in enumerate(zip(want_n, got_n, strict=False)):
        assert g == w, (i, w, g)
    assert len(got_n) == len(want_n), got_n[len(want_n) :] or want_n[len(got_n) :]
    # the exec without arguments: "exec_create: true " (entrypoint, space, arguments)
    assert ("container", "exec_create: true ") in {(t, a) for t, a, *_ in got_n}
    joined = {dict(v).get("type") for t, a, _, v, _ in got_n if (t, a) == ("network", "connect")}
    assert joined == {"null", "host", "bridge"}  # --network none, host and a user network
    resized = [v for t, a, _, v, _ in got_n if a == "resize"]
    assert resized and ("height", "30") in resized[0] and ("width", "100") in resized[0]
