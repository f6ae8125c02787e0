"""Networking benchmarks (issue 4, MISSION N1/N3): dockyard vs a real dockerd, interleaved.

    .venv/bin/python bench/network.py [--rounds N] [--mb MB]

Each engine runs in its own fresh network namespace (its bridge, its firewall rules, its
127.0.0.1), so the host's networking and any other daemon are never touched; dockerd runs with
its defaults there (iptables, userland proxy). Cases:
  bridge    container -> container TCP throughput over the bridge (busybox dd | nc)
  loopback  host -> 127.0.0.1 published port TCP throughput (Python client in the netns)
  latency   small HTTP requests, one connection each, host -> 127.0.0.1 published port
  run       `docker run --rm busybox true` on the bridge
Ratios are dockyard / dockerd (throughput: higher is better; times: lower is better).
Targets: bridge >= 1.0x, loopback >= 1.2x, latency <= 0.65x, run <= 0.4x.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.oracle import busybox_tar, in_netns, wait_until_serving  # noqa: E402

from dockyard.network import netns  # noqa: E402

DOCKER = shutil.which("docker") or "docker"
# busybox nc moves data in small reads and caps throughput near 650 MB/s on either engine;
# a static C sink/sender measures the path, not the tool.
NETTOOL_C = r"""
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
static char buf[1 << 20];
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (!strcmp(argv[1], "sink")) {
        a.sin_port = htons(atoi(argv[2]));
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) return 1;
        for (;;) {
            int c = accept(s, 0, 0);
            while (read(c, buf, sizeof buf) > 0) {}
            close(c);
        }
    }
    inet_pton(AF_INET, argv[2], &a.sin_addr);
    a.sin_port = htons(atoi(argv[3]));
    if (connect(s, (struct sockaddr *)&a, sizeof a)) return 1;
    long mb = atol(argv[4]);
    struct timeval t0, t1;
    gettimeofday(&t0, 0);
    for (long i = 0; i < mb; i++) {
        for (size_t off = 0; off < sizeof buf;) {
            ssize_t n = write(s, buf + off, sizeof buf - off);
            if (n <= 0) return 1;
            off += n;
        }
    }
    shutdown(s, SHUT_WR);
    while (read(s, buf, sizeof buf) > 0) {}
    gettimeofday(&t1, 0);
    printf("%.1f\n", mb / ((t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6));
    return 0;
}
"""
HTTPD = "echo ok > /index.html; exec httpd -f -p 80"


class Engine:
    def __init__(self, name: str, sock: str, ns: Path) -> None:
        self.name, self.sock, self.ns = name, sock, ns

    def docker(self, *args: str, check: bool = True) -> str:
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}"}
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {r.stderr}")
        return r.stdout + r.stderr

    def inside(self, fn: Callable[[], None]) -> None:
        netns.run_inside(self.ns, fn)


def _sh(ns: Path, *cmd: str) -> None:
    subprocess.run(["nsenter", f"--net={ns}", *cmd], check=True, capture_output=True)


@contextlib.contextmanager
def engines(base: Path) -> Iterator[tuple[Engine, Engine]]:
    ns_d, ns_y = base / "ns-dockerd", base / "ns-dockyard"
    with contextlib.ExitStack() as stack:
        for ns in (ns_d, ns_y):
            netns.create(ns)
            stack.callback(netns.remove, ns)
            _sh(ns, "ip", "link", "set", "lo", "up")
        # dockerd's own bridge inside its namespace (never the host's docker0).
        _sh(ns_d, "ip", "link", "add", "dybd0", "type", "bridge")
        _sh(ns_d, "ip", "addr", "add", "10.123.0.1/24", "dev", "dybd0")
        _sh(ns_d, "ip", "link", "set", "dybd0", "up")
        d = base / "dockerd"
        sock_d = str(d / "d.sock")
        d.mkdir()
        proc = stack.enter_context(in_netns(ns_d, [
            "dockerd", "--data-root", str(d / "data"), "--exec-root", str(d / "exec"),
            "-H", f"unix://{sock_d}", "--bridge", "dybd0", "--pidfile", str(d / "d.pid"),
        ], d / "log"))  # fmt: skip
        stack.callback(subprocess.run, ["umount", "-R", str(d / "data")], capture_output=True)
        wait_until_serving(sock_d, proc, "dockerd")
        y = base / "dockyard"
        sock_y = str(y / "d.sock")
        y.mkdir()
        proc = stack.enter_context(in_netns(ns_y, [
            sys.executable, "-m", "dockyard", "daemon", "--data-root", str(y / "data"),
            "--exec-root", str(y / "exec"), "-H", f"unix://{sock_y}", "--bridge", "dybk0",
            "--cgroup-parent", "dockyard-bench-net",
        ], y / "log"))  # fmt: skip
        wait_until_serving(sock_y, proc, "dockyard")
        dk, dy = Engine("dockerd", sock_d, ns_d), Engine("dockyard", sock_y, ns_y)
        subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"],
                       env={**os.environ, "DOCKER_HOST": f"unix://{sock_d}"},
                       input=busybox_tar(base / "bb"), check=True, capture_output=True)  # fmt: skip
        subprocess.run(["curl", "-s", "--unix-socket", sock_y, "-X", "POST",
                        "http://x/dockyard/images/bootstrap"], capture_output=True)  # fmt: skip
        tool = nettool_tar(base / "tool")
        for e in (dk, dy):
            subprocess.run([DOCKER, "import", "-", "dy-nettool:bench"], input=tool, check=True,
                           env={**os.environ, "DOCKER_HOST": f"unix://{e.sock}"},
                           capture_output=True)  # fmt: skip
        try:
            yield dk, dy
        finally:
            for e in (dk, dy):
                ids = e.docker("ps", "-aq", check=False).split()
                if ids:
                    e.docker("rm", "-f", *ids, check=False)


def nettool_tar(d: Path) -> bytes:
    d.mkdir(parents=True)
    (d / "nettool.c").write_text(NETTOOL_C)
    subprocess.run(["gcc", "-O2", "-static", "-o", str(d / "nettool"), str(d / "nettool.c")],
                   check=True)  # fmt: skip
    return subprocess.run(["tar", "-C", str(d), "-c", "nettool"], check=True,
                          capture_output=True).stdout  # fmt: skip


def setup_servers(e: Engine) -> dict[str, str]:
    e.docker("run", "-d", "--name", "sink", "-p", "127.0.0.1:15001:5001", "dy-nettool:bench",
             "/nettool", "sink", "5001")  # fmt: skip
    e.docker("run", "-d", "--name", "web", "-p", "127.0.0.1:15080:80", "busybox", "sh", "-c", HTTPD)
    e.docker("run", "-d", "--name", "client", "dy-nettool:bench", "/nettool", "sink", "1")
    ip = e.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "sink").strip()
    time.sleep(0.5)
    return {"sink_ip": ip}


def bridge_throughput(e: Engine, ip: str, mb: int) -> float:
    """MB/s, container -> container, measured by the sender inside the client container."""
    return float(e.docker("exec", "client", "/nettool", "send", ip, "5001", str(mb)))


def loopback_throughput(e: Engine, mb: int) -> float:
    out: list[float] = []
    chunk = b"\0" * (1 << 20)

    def run() -> None:
        for _ in range(50):
            try:
                s = socket.create_connection(("127.0.0.1", 15001), timeout=10)
                break
            except OSError:
                time.sleep(0.05)
        t0 = time.perf_counter()
        with s:
            for _ in range(mb):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
        out.append(mb / (time.perf_counter() - t0))

    e.inside(run)
    return out[0]


def latency(e: Engine, n: int) -> float:
    """Median seconds for one small HTTP request on a fresh connection."""
    samples: list[float] = []

    def run() -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            with socket.create_connection(("127.0.0.1", 15080), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while s.recv(4096):
                    pass
            samples.append(time.perf_counter() - t0)

    e.inside(run)
    return statistics.median(samples)


def run_rm(e: Engine) -> float:
    t0 = time.perf_counter()
    e.docker("run", "--rm", "busybox", "true")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mb", type=int, default=1000)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-net-", dir="/var/tmp"))
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with engines(base) as (dk, dy):
            ips = {e.name: setup_servers(e)["sink_ip"] for e in (dk, dy)}
            for e in (dk, dy):  # warm up
                loopback_throughput(e, 50)
                latency(e, 20)
                run_rm(e)
            for _ in range(args.rounds):
                for e in (dk, dy):
                    r = results.setdefault(e.name, {})
                    r.setdefault("bridge MB/s", []).append(
                        bridge_throughput(e, ips[e.name], args.mb)
                    )
                    time.sleep(0.2)
                    r.setdefault("loopback MB/s", []).append(loopback_throughput(e, args.mb))
                    r.setdefault("latency ms", []).append(latency(e, 200) * 1e3)
                    r.setdefault("run --rm s", []).append(run_rm(e))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        for d in Path("/sys/fs/cgroup").glob("*/dockyard-bench-net"):
            for sub in sorted(d.glob("**/"), key=lambda p: len(str(p)), reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(sub)
    print(f"{'case':16} {'dockerd':>10} {'dockyard':>10} {'ratio':>7}")
    summary: dict[str, dict[str, float]] = {}
    for case in results["dockerd"]:
        a = statistics.median(results["dockerd"][case])
        b = statistics.median(results["dockyard"][case])
        summary[case] = {"dockerd": a, "dockyard": b, "ratio": b / a}
        print(f"{case:16} {a:10.3f} {b:10.3f} {b / a:6.2f}x")
    out = ROOT / "bench" / "results" / "network.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
