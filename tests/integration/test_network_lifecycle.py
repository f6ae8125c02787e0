"""Networking across daemon crashes (N1, N3): a new daemon re-holds the ports of containers
that survived, and removes the veths, netns mounts, nft elements and ports of those that did
not (found by owner: our bridge, our table's tags, our exec root)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon, private_daemon
from tests.integration.network_helpers import HTTPD, free_port, http_get, nft_table, veths_on

pytestmark = pytest.mark.integration


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    with private_daemon("-nl", f"dyn{os.getpid()}") as d:
        yield d


def _run(d: Daemon, *args: str) -> str:
    p = d.dockyard("run", "-d", *args)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_crash_keeps_live_endpoints_and_reaps_dead_ones(own_daemon: Daemon) -> None:
    """N1/N3: kill -9 the daemon; a container that exits meanwhile loses its veth, netns, DNAT
    and port at the next start; the survivor keeps answering and keeps its port held."""
    d = own_daemon
    live_port, dead_port = free_port(), free_port()
    live = _run(d, "-p", f"{live_port}:80", "busybox", "sh", "-c", HTTPD)
    dead = _run(d, "-p", f"{dead_port}:80", "busybox", "sh", "-c", "sleep 1")
    assert http_get("127.0.0.1", live_port) == f"hello-{live[:12]}"
    d.stop(signal.SIGKILL)
    # a veth left by a setup the crash interrupted
    subprocess.run(
        ["ip", "link", "add", "dyvdeadbe", "type", "veth", "peer", "dypdeadbe"], check=True
    )
    subprocess.run(["ip", "link", "set", "dyvdeadbe", "master", d.bridge], check=True)
    time.sleep(2)
    assert len(veths_on(d.bridge)) == 3
    d.start()
    assert http_get("127.0.0.1", live_port) == f"hello-{live[:12]}"
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("0.0.0.0", live_port))
    with socket.socket() as s:
        s.bind(("0.0.0.0", dead_port))
    assert len(veths_on(d.bridge)) == 1
    assert sorted(p.name for p in (d.exec_root / "netns").iterdir()) == [live[:12]]
    table = nft_table(d)
    assert live[:12] in table and dead[:12] not in table and str(dead_port) not in table
    _, info = d.api("GET", f"/containers/{dead}/json")
    assert info["State"]["Status"] == "exited" and info["NetworkSettings"]["Ports"] == {}
    assert d.api("POST", f"/containers/{live}/stop?t=0")[0] == 204
    assert veths_on(d.bridge) == []
    assert list((d.exec_root / "netns").iterdir()) == []
