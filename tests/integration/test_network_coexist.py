"""dockyard beside a real dockerd (N3, N1): in a private network namespace (so the host's own
firewall is never touched) a Debian dockerd runs with its own bridge and iptables rules, with
FORWARD policy DROP as on a fresh Docker host; a dockyard daemon runs next to it. Containers
still reach each other, published ports still answer (from the namespace itself and from a
"remote client" namespace routed through it), containers reach a listener in that remote
namespace through masquerade, and dockerd's chains are unchanged: the only lines dockyard adds
to iptables are its three tagged accepts in FORWARD (D-net-6)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from dockyard.network import netns
from dockyard.network.firewall import forward
from tests.conftest import own_cgroup_parent, remove_cgroups
from tests.integration.network_helpers import HTTPD, nc_get
from tests.oracle import busybox_tar, in_netns, wait_until_serving

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


def _rules(ns: Path) -> list[str]:
    out = _ns(ns, "iptables-save").stdout
    return [ln for ln in out.splitlines() if not ln.startswith(("#", ":"))]


def _remote(ns: Path, remote: Path, stack: contextlib.ExitStack) -> None:
    """A second namespace wired to `ns` by a veth pair on 10.125.0.0/24 (ns: .1, remote: .2):
    a client whose traffic `ns` routes, like another machine on the LAN."""
    netns.create(remote)
    stack.callback(netns.remove, remote)
    # By the namespace's path: a pid would race the process entering it (seen under load).
    for cmd in (["ip", "link", "add", "dycor0", "type", "veth", "peer", "name", "dycor1"],
                ["ip", "link", "set", "dycor1", "netns", str(remote)],
                ["ip", "addr", "add", "10.125.0.1/24", "dev", "dycor0"],
                ["ip", "link", "set", "dycor0", "up"]):  # fmt: skip
        assert _ns(ns, *cmd).returncode == 0, cmd
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "dycor1", "name", "eth0"],
                ["ip", "addr", "add", "10.125.0.2/24", "dev", "eth0"],
                ["ip", "link", "set", "eth0", "up"]):  # fmt: skip
        assert _ns(remote, *cmd).returncode == 0, cmd


def _listener(remote: Path, stack: contextlib.ExitStack) -> list[str]:
    """An HTTP answer on 10.125.0.2:9000 in the remote namespace; returns the list the peers'
    addresses are appended to."""
    socks: list[socket.socket] = []

    def bind() -> None:
        s = socket.socket()
        s.bind(("10.125.0.2", 9000))
        s.listen()
        socks.append(s)

    netns.run_inside(remote, bind)  # the socket stays in `remote`; accept() can run anywhere
    srv = socks[0]
    stack.callback(srv.close)
    peers: list[str] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, addr = srv.accept()
                with conn:
                    peers.append(addr[0])
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nremote-ok\n")

    threading.Thread(target=serve, daemon=True).start()
    return peers


def _refused(ns: Path, host: str, port: int) -> bool:
    failed: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=1.5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                failed.append(not s.recv(100))
        except OSError:
            failed.append(True)

    netns.run_inside(ns, connect)
    return failed[0]


def _same_links_and_container_mode(d_sock: Path, y_sock: Path, base: Path) -> None:
    """Differential, while the dockerd with a real bridge is at hand: link variables (port
    ranges, tcp first, alias spelling) and a container:NAME joiner's hostname and files."""
    tar = busybox_tar(base / "bb")
    r = subprocess.run(["docker", "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar,
                       env={**os.environ, "DOCKER_HOST": f"unix://{d_sock}"}, capture_output=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    seen = []
    for sock in (d_sock, y_sock):
        r = _docker(sock, "run", "-d", "--name", "lt", "--hostname", "lthost", "--expose",
                    "8000-8002", "--expose", "9000", "--expose", "53/udp", "busybox", "sleep", "60")  # fmt: skip
        assert r.returncode == 0, r.stderr
        try:
            ip = _docker(sock, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "lt").stdout
            env = _docker(
                sock, "run", "--rm", "--name", "lk", "--link", "lt:my-db.x", "busybox", "env"
            ).stdout
            links = [v.replace(ip.strip(), "IP") for v in env.splitlines() if v.startswith("MY_DB")]
            joined = _docker(sock, "run", "--rm", "--network", "container:lt", "busybox", "sh",
                             "-c", "hostname; cat /etc/hostname; grep lthost /etc/hosts")  # fmt: skip
            seen.append((links, joined.stdout.replace(ip.strip(), "IP")))
        finally:
            _docker(sock, "rm", "-f", "lt")
    assert seen[0][0] and seen[1] == seen[0]


@pytest.mark.compat  # drives the docker CLI: run with each CLI (scripts/test)
def test_dockyard_beside_dockerd_with_forward_drop() -> None:
    """N1/N3: c2c traffic, published ports (local and routed clients) and outbound traffic work
    under dockerd's FORWARD DROP; unpublished ports stay unreachable from outside; dockerd's
    iptables rules and bridge are left as they were, plus our three tagged accepts (D-net-6)."""
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("docker"):
        pytest.skip("needs root, dockerd and the docker CLI")
    base = Path(tempfile.mkdtemp(prefix="dockyard-test-coexist-", dir="/var/tmp"))
    ns, remote = base / "ns", base / "remote"
    cgroup = own_cgroup_parent("-co")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, base, True)
        netns.create(ns)
        stack.callback(netns.remove, ns)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "dycod", "type", "bridge"],
                    ["ip", "addr", "add", "10.124.0.1/24", "dev", "dycod"],
                    ["ip", "link", "set", "dycod", "up"]):  # fmt: skip
            assert _ns(ns, *cmd).returncode == 0
        _remote(ns, remote, stack)
        peers = _listener(remote, stack)
        d_sock, y_sock = base / "dockerd.sock", base / "dockyard.sock"
        dockerd_argv = [
            "dockerd", "--data-root", str(base / "dd"), "--exec-root", str(base / "de"),
            "-H", f"unix://{d_sock}", "--bridge", "dycod", "--pidfile", str(base / "d.pid"),
        ]  # fmt: skip
        stack.callback(subprocess.run, ["umount", "-R", str(base / "dd")], capture_output=True)
        d_stack = stack.enter_context(contextlib.ExitStack())
        dockerd = d_stack.enter_context(in_netns(ns, dockerd_argv, base / "dockerd.log"))
        wait_until_serving(str(d_sock), dockerd, "dockerd")
        assert _ns(ns, "iptables", "-P", "FORWARD", "DROP").returncode == 0  # as on a fresh host
        rules_before = _rules(ns)
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
            hello = f"hello-{cid[:12]}"
            ip = _docker(
                y_sock, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid
            ).stdout.strip()
            gw = _docker(
                y_sock, "inspect", "-f", "{{.NetworkSettings.Gateway}}", cid
            ).stdout.strip()
            time.sleep(0.3)
            r = _docker(y_sock, "run", "--rm", "busybox", "sh", "-c", nc_get(ip, 80))
            assert r.stdout.strip() == hello, r.stderr
            assert _http(ns, "http://127.0.0.1:18080/") == hello
            assert _http(ns, f"http://{gw}:18080/") == hello
            # routed: a remote client reaches the published port on the address it knows
            assert _http(remote, "http://10.125.0.1:18080/") == hello
            # hairpin through the gateway from another container
            r = _docker(y_sock, "run", "--rm", "busybox", "sh", "-c", nc_get(gw, 18080))
            assert r.stdout.strip() == hello, r.stderr
            # outbound: masqueraded to the address of `ns` on the remote link
            r = _docker(y_sock, "run", "--rm", "busybox", "sh", "-c", nc_get("10.125.0.2", 9000))
            assert r.stdout.strip() == "remote-ok", r.stderr
            assert peers == ["10.125.0.1"]
            # Docker's semantics: an unpublished port is not reachable from outside, even with
            # a route to the container's subnet
            subnet = ip.rsplit(".", 1)[0] + ".0/16"
            assert _ns(remote, "ip", "route", "add", subnet, "via", "10.125.0.1").returncode == 0
            assert _refused(remote, ip, 80)
            after = _rules(ns)
            added = [ln for ln in after if ln not in rules_before]
            assert sorted(added) == sorted(f"-A FORWARD {r}" for r in forward.rules("dycoy"))
            assert [ln for ln in after if ln not in added] == rules_before
            assert "dycod" in _ns(ns, "ip", "-o", "link", "show", "dycod").stdout
            _same_links_and_container_mode(d_sock, y_sock, base)
            # a restarted dockerd puts its jumps back on top: our accepts still apply
            d_stack.close()
            dockerd = d_stack.enter_context(in_netns(ns, dockerd_argv, base / "dockerd2.log"))
            wait_until_serving(str(d_sock), dockerd, "dockerd")
            assert "-P FORWARD DROP" in _ns(ns, "iptables", "-S", "FORWARD").stdout
            assert _http(remote, "http://10.125.0.1:18080/") == hello
            r = _docker(y_sock, "run", "--rm", "busybox", "sh", "-c", nc_get("10.125.0.2", 9000))
            assert r.stdout.strip() == "remote-ok", r.stderr
        finally:
            ids = _docker(y_sock, "ps", "-aq").stdout.split()
            if ids:
                _docker(y_sock, "rm", "-f", *ids)
    remove_cgroups(cgroup)


def test_forward_rules_round_trip_in_real_iptables() -> None:
    """D-net-6: ensure is idempotent against what `iptables -S` really prints, remove and the
    start-time reconcile (rules of gone bridges) leave no tagged rule; in a throwaway netns."""
    if os.geteuid() != 0 or not shutil.which("iptables") or not shutil.which("unshare"):
        pytest.skip("needs root, iptables and unshare")
    script = """
import subprocess
from dockyard.network import netlink
from dockyard.network.firewall import forward
def tagged():
    out = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    return forward.parse(out)
subprocess.run(["ip", "link", "add", "dyrt0", "type", "bridge"], check=True)
forward.ensure("dyrt0"); forward.ensure("dyrt0"); forward.ensure("dyrtgone", True)
assert sorted(tagged()["dyrt0"]) == sorted(forward.rules("dyrt0")), tagged()
assert forward.reconcile(netlink.link_exists) == ["dyrtgone"]
assert list(tagged()) == ["dyrt0"]
forward.ensure("dyrt0", True)
assert tagged() == {"dyrt0": forward.rules("dyrt0", True)}
forward.remove("dyrt0"); forward.remove("dyrt0")
assert tagged() == {}
print("ok")
"""
    p = subprocess.run(["unshare", "-n", sys.executable, "-c", script],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.stdout.strip() == "ok", p.stderr
