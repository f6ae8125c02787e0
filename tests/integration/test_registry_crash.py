"""E5 / R1: a pull interrupted by kill -9 of the daemon. Nothing is half-stored or visible
after the restart (no image, no temporary files), and a retried pull reuses the layers that had
completed ("Already exists") instead of fetching them again."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import Daemon, UnixHTTPConnection, private_daemon
from tests.registry import File, busybox_files, oci_layout, registry, skopeo_push

pytestmark = pytest.mark.integration

BIG = 48 * 1024 * 1024


def _pull_lines(d: Daemon, ref: str, tag: str) -> tuple[UnixHTTPConnection, object]:
    conn = UnixHTTPConnection(str(d.socket), timeout=60)
    conn.request("POST", f"/images/create?fromImage={ref}&tag={tag}")
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    return conn, resp


def test_pull_killed_midway_leaves_nothing_and_a_retry_reuses_finished_layers(
    tmp_path: Path,
) -> None:
    layers = [busybox_files(), {"etc/small": File(b"small\n")},
              {"big1": File(os.urandom(BIG))}, {"big2": File(os.urandom(BIG))}]  # fmt: skip
    oci_layout(tmp_path / "img", layers, compression="none")
    with registry(tmp_path / "reg") as reg, private_daemon("-pk", f"dyk{os.getpid()}") as d:
        name = f"{reg.host}/crash"
        skopeo_push(tmp_path / "img", "crash:1", reg)
        conn, resp = _pull_lines(d, name, "1")
        completed: list[str] = []
        for raw in resp:  # type: ignore[attr-defined]
            msg = json.loads(raw)
            if msg.get("status") == "Pull complete":
                completed.append(msg["id"])
                if len(completed) == 2:
                    break
        assert d.proc is not None
        d.proc.send_signal(signal.SIGKILL)  # mid-pull: the big layers are still on their way
        d.proc.wait()
        conn.close()
        d.start()
        status, images = d.api("GET", "/images/json")
        assert status == 200
        assert not [i for i in images if any(t.startswith(name) for t in i["RepoTags"] or [])]
        assert list((d.data_root / "tmp").iterdir()) == []
        conn, resp = _pull_lines(d, name, "1")
        messages = [json.loads(line) for line in resp]  # type: ignore[attr-defined]
        conn.close()
        assert not [m for m in messages if "error" in m], messages
        reused = {m["id"] for m in messages if m.get("status") == "Already exists"}
        assert set(completed) <= reused, (completed, messages)
        assert [m for m in messages if m.get("status") == "Pull complete"], "nothing was left to do"
        assert messages[-1]["status"] == f"Status: Downloaded newer image for {name}:1"
        r = d.dockyard("run", "--rm", f"{name}:1", "cat", "/etc/small")
        assert (r.returncode, r.stdout) == (0, "small\n"), r.stderr
        d.dockyard("rmi", f"{name}:1")
