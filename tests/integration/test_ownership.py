"""Two daemons on one host (R1, N1): a daemon refuses, before it changes anything, a bridge (and
so the nft table named after it), an exec root or an API socket that another live daemon holds;
the running one's published ports, rules and containers are untouched by the attempt."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import NO_HUB, Daemon, own_cgroup_parent, remove_cgroups
from tests.integration.network_helpers import HTTPD, free_port, http_get, nft_table, rm, run

pytestmark = pytest.mark.integration


def _second(tmp: Path, d: Daemon, **same: str) -> subprocess.CompletedProcess[str]:
    """A second daemon with roots of its own, except what `same` takes from `d`."""
    args = {"bridge": f"dyo{tmp.name[-6:]}".replace("_", "x"), "exec_root": str(tmp / "exec"),
            "host": f"unix://{tmp / 'd.sock'}", "cgroup_parent": own_cgroup_parent("-second")}  # fmt: skip
    args.update(same)
    argv = [sys.executable, "-m", "dockyard", "daemon", "--data-root", str(tmp / "data"),
            "--exec-root", args["exec_root"], "-H", args["host"],
            "--cgroup-parent", args["cgroup_parent"], "--hub-endpoint", NO_HUB,
            "--exec-opt", f"native.cgroupdriver={d.cgroup_driver}", "--bridge", args["bridge"]]  # fmt: skip
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)
    finally:
        remove_cgroups(args["cgroup_parent"])  # refused before it made any: nothing to do


@pytest.mark.parametrize("what", ["bridge", "exec_root", "host"])
def test_a_second_daemon_is_refused_what_the_first_holds(daemon: Daemon, what: str) -> None:
    port = free_port()
    web = run(daemon, "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", HTTPD)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-second-", dir="/var/tmp"))
    try:
        want = f"hello-{web[:12]}"
        assert http_get("127.0.0.1", port) == want
        table = nft_table(daemon)
        same = {"bridge": daemon.bridge, "exec_root": str(daemon.exec_root),
                "host": daemon.host}[what]  # fmt: skip
        r = _second(tmp, daemon, **{what: same})
        assert r.returncode == 1, r.stderr
        kind, name = {"bridge": ("bridge", daemon.bridge),
                      "exec_root": ("exec root", str(daemon.exec_root.resolve())),
                      "host": ("socket", str(daemon.socket.resolve()))}[what]  # fmt: skip
        assert (f"dockyard: failed to start daemon: {kind} {name} is held by another dockyard "
                f"daemon (pid {daemon.proc.pid if daemon.proc else '?'}, "
                f"data root {daemon.data_root})") in r.stderr  # fmt: skip
        assert nft_table(daemon) == table  # nothing rewritten
        assert http_get("127.0.0.1", port) == want  # still published
        assert daemon.api("GET", "/_ping")[0] == 200  # its socket still its own
        assert not (tmp / "data" / "overlay2").exists(), "refused before anything was set up"
    finally:
        rm(daemon, web)
        shutil.rmtree(tmp, ignore_errors=True)
