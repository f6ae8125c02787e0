"""dockyard beside a real dockerd (N3, N1): in a private network namespace (so the host's own
firewall is never touched) a Debian dockerd runs with its own bridge and iptables rules, with
FORWARD policy DROP as on a fresh Docker host; a dockyard daemon runs next to it. Containers
still reach each other and published ports still answer, and dockerd's chains are unchanged."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from dockyard.network import netns
from tests.integration.network_helpers import HTTPD, nc_get
from tests.oracle import in_netns, wait_until_serving

pytestmark = pytest.mark.integration


def _ns(ns: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net={ns}", *cmd], capture_output=True, text=True, check=False
    )


def _docker(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=120)


def _http(ns: Path, url: str) -> str:
    out: list[str] = []

    def get() -> None:
        with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 - our own container
            out.append(r.read().decode().strip())

    netns.run_inside(ns, get)
    return out[0]


def test_dockyard_beside_dockerd_with_forward_drop() -> None:
    """N1/N3: c2c traffic and published ports work under dockerd's FORWARD DROP; dockerd's
    iptables rules and bridge are left exactly as they were."""
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("docker"):
        pytest.skip("needs root, dockerd and the docker CLI")
    base = Path(tempfile.mkdtemp(prefix="dockyard-test-coexist-", dir="/var/tmp"))
    ns = base / "ns"
    cgroup = f"dockyard-test-{os.getpid()}-co"
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, base, True)
        netns.create(ns)
        stack.callback(netns.remove, ns)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "dycod", "type", "bridge"],
                    ["ip", "addr", "add", "10.124.0.1/24", "dev", "dycod"],
                    ["ip", "link", "set", "dycod", "up"]):  # fmt: skip
            assert _ns(ns, *cmd).returncode == 0
        d_sock, y_sock = base / "dockerd.sock", base / "dockyard.sock"
        dockerd = stack.enter_context(in_netns(ns, [
            "dockerd", "--data-root", str(base / "dd"), "--exec-root", str(base / "de"),
            "-H", f"unix://{d_sock}", "--bridge", "dycod", "--pidfile", str(base / "d.pid"),
        ], base / "dockerd.log"))  # fmt: skip
        stack.callback(subprocess.run, ["umount", "-R", str(base / "dd")], capture_output=True)
        wait_until_serving(str(d_sock), dockerd, "dockerd")
        assert _ns(ns, "iptables", "-P", "FORWARD", "DROP").returncode == 0  # as on a fresh host
        rules_before = _ns(ns, "iptables-save").stdout
        rules_before = "\n".join(
            ln for ln in rules_before.splitlines() if not ln.startswith(("#", ":"))
        )
        dockyard = stack.enter_context(in_netns(ns, [
            sys.executable, "-m", "dockyard", "daemon", "--data-root", str(base / "yd"),
            "--exec-root", str(base / "ye"), "-H", f"unix://{y_sock}", "--bridge", "dycoy",
            "--cgroup-parent", cgroup,
        ], base / "dockyard.log"))  # fmt: skip
        wait_until_serving(str(y_sock), dockyard, "dockyard")
        subprocess.run(["curl", "-s", "--unix-socket", str(y_sock), "-X", "POST",
                        "http://x/dockyard/images/bootstrap"], check=True, capture_output=True)  # fmt: skip
        try:
            r = _docker(y_sock, "run", "-d", "-p", "18080:80", "busybox", "sh", "-c", HTTPD)
            assert r.returncode == 0, r.stderr
            cid = r.stdout.strip()
            ip = _docker(
                y_sock, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid
            ).stdout.strip()
            gw = _docker(
                y_sock, "inspect", "-f", "{{.NetworkSettings.Gateway}}", cid
            ).stdout.strip()
            time.sleep(0.3)
            r = _docker(y_sock, "run", "--rm", "busybox", "sh", "-c", nc_get(ip, 80))
            assert r.stdout.strip() == f"hello-{cid[:12]}", r.stderr
            assert _http(ns, "http://127.0.0.1:18080/") == f"hello-{cid[:12]}"
            assert _http(ns, f"http://{gw}:18080/") == f"hello-{cid[:12]}"
            after = _ns(ns, "iptables-save").stdout
            after = "\n".join(ln for ln in after.splitlines() if not ln.startswith(("#", ":")))
            assert after == rules_before
            assert "dycod" in _ns(ns, "ip", "-o", "link", "show", "dycod").stdout
        finally:
            ids = _docker(y_sock, "ps", "-aq").stdout.split()
            if ids:
                _docker(y_sock, "rm", "-f", *ids)
    for cg in Path("/sys/fs/cgroup").glob(f"*/{cgroup}"):
        for sub in sorted(cg.glob("**/"), key=lambda p: len(str(p)), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(sub)
