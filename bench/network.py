"""Networking benchmarks (issue 4, MISSION N1/N3): dockyard vs a real dockerd, interleaved.

    .venv/bin/python bench/network.py [--repeat 3] [--rounds N] [--mb MB] [--requests N]
                                      [--out FILE]

--repeat K runs the whole bench K times with fresh engines (results/<out>-runI.json) and
writes the medians over runs with the range of the per-run ratios to results/<out>.

Each engine runs in its own fresh network namespace (its bridge, its firewall rules, its
127.0.0.1), so the host's networking and any other daemon are never touched; dockerd runs with
its defaults there (iptables, userland proxy). Every client and server on the data path is the
static C program bench/netbench.c (built at bench time), so no Python cost sits in a number.
A "routed" client lives in a further namespace one veth hop from the engine's (ROUTED_NET).
Cases (one sample per engine per round, engines interleaved, the first alternating):
  bridge MB/s      container -> container TCP throughput over the bridge
  bridge rr|crr us container -> container round trips (as below) over the bridge
  lo MB/s          engine's namespace -> 127.0.0.1 published port throughput
  routed MB/s      routed client -> published port on the engine's veth address
  lo|routed rr us  64-byte ping-pong on one connection, median (and p90) per round trip
  lo|routed crr us connect + 64 bytes there and back + close, median (and p90) per round trip
  lo http us       busybox httpd GET / on a fresh connection (the old "latency" case)
  run --rm s       `docker run --rm busybox true` on the bridge
Ratios are dockyard / dockerd (throughput: higher is better; times: lower is better).
Targets: bridge >= 1.0x, lo MB/s >= 1.2x, small-request latency (lo crr) <= 0.65x, run <= 0.4x.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.conftest import remove_cgroups  # noqa: E402
from tests.oracle import busybox_tar, in_netns, wait_until_serving  # noqa: E402

from dockyard.network import netns  # noqa: E402

DOCKER = shutil.which("docker") or "docker"
CGROUP = "dockyard-bench-net"
CGROUP_D = "dockyard-bench-dockerd"  # dockerd's containers' parent, removed after it stops
HTTPD = "echo ok > /index.html; exec httpd -f -p 80"
# host ports the servers are published on (all addresses), and the routed client's link; both
# live only inside the benchmark's own namespaces
PORTS = {"sink": 15001, "echo": 15007, "http": 15080}
ROUTED_NET = "10.126.0"


class Engine:
    def __init__(self, name: str, sock: str, ns: Path) -> None:
        self.name, self.sock, self.ns = name, sock, ns

    def docker(self, *args: str, check: bool = True) -> str:
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}"}
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {r.stderr}")
        return r.stdout + r.stderr

    def timed(self, *args: str) -> float:
        """Seconds one docker CLI command takes against this engine."""
        t0 = time.perf_counter()
        self.docker(*args)
        return time.perf_counter() - t0

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
        stack.callback(remove_cgroups, CGROUP_D)  # unwound after dockerd below has stopped
        proc = stack.enter_context(in_netns(ns_d, [
            "dockerd", "--data-root", str(d / "data"), "--exec-root", str(d / "exec"),
            "-H", f"unix://{sock_d}", "--bridge", "dybd0", "--pidfile", str(d / "d.pid"),
            "--cgroup-parent", CGROUP_D, "--exec-opt", "native.cgroupdriver=cgroupfs",
        ], d / "log"))  # fmt: skip
        stack.callback(subprocess.run, ["umount", "-R", str(d / "data")], capture_output=True)
        wait_until_serving(sock_d, proc, "dockerd")
        stack.callback(remove_cgroups, CGROUP)  # unwound after the daemon below has stopped
        y = base / "dockyard"
        sock_y = str(y / "d.sock")
        y.mkdir()
        proc = stack.enter_context(in_netns(ns_y, [
            sys.executable, "-m", "dockyard", "daemon", "--data-root", str(y / "data"),
            "--exec-root", str(y / "exec"), "-H", f"unix://{sock_y}", "--bridge", "dybk0",
            "--cgroup-parent", CGROUP, "--exec-opt", "native.cgroupdriver=cgroupfs",
        ], y / "log"))  # fmt: skip
        wait_until_serving(sock_y, proc, "dockyard")
        dk, dy = Engine("dockerd", sock_d, ns_d), Engine("dockyard", sock_y, ns_y)
        subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"],
                       env={**os.environ, "DOCKER_HOST": f"unix://{sock_d}"},
                       input=busybox_tar(base / "bb"), check=True, capture_output=True)  # fmt: skip
        subprocess.run(["curl", "-s", "--unix-socket", sock_y, "-X", "POST",
                        "http://x/dockyard/images/bootstrap"], capture_output=True)  # fmt: skip
        tool = netbench_tar(base / "tool")
        for e in (dk, dy):
            subprocess.run([DOCKER, "import", "-", "dy-netbench:bench"], input=tool, check=True,
                           env={**os.environ, "DOCKER_HOST": f"unix://{e.sock}"},
                           capture_output=True)  # fmt: skip
        try:
            yield dk, dy
        finally:
            for e in (dk, dy):
                ids = e.docker("ps", "-aq", check=False).split()
                if ids:
                    e.docker("rm", "-f", *ids, check=False)


def netbench_tar(d: Path) -> bytes:
    """Build bench/netbench.c statically into `d` (the host-side client runs it from there via
    nsenter) and return an image tar holding only /netbench."""
    d.mkdir(parents=True)
    subprocess.run(["gcc", "-O2", "-static", "-o", str(d / "netbench"),
                    str(ROOT / "bench" / "netbench.c")], check=True)  # fmt: skip
    return subprocess.run(["tar", "-C", str(d), "-c", "netbench"], check=True,
                          capture_output=True).stdout  # fmt: skip


@contextlib.contextmanager
def routed_client(e: Engine, base: Path) -> Iterator[Path]:
    """A namespace wired to the engine's by a veth pair on ROUTED_NET (engine side .1, client
    .2): a client on the LAN whose connections to the engine's published ports arrive through
    prerouting, not through the engine's own loopback."""
    ns = base / f"ns-{e.name}-client"
    netns.create(ns)
    try:
        _sh(e.ns, "ip", "link", "add", "dyrc0", "type", "veth", "peer", "name", "eth0",
            "netns", str(ns))  # fmt: skip
        _sh(e.ns, "ip", "addr", "add", f"{ROUTED_NET}.1/24", "dev", "dyrc0")
        _sh(e.ns, "ip", "link", "set", "dyrc0", "up")
        # crr leaves one TIME_WAIT socket per round trip on the client; let it reuse them
        # like loopback does by default, so many rounds never run out of ephemeral ports
        for cmd in (["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"],
                    ["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "addr", "add", f"{ROUTED_NET}.2/24", "dev", "eth0"]):  # fmt: skip
            _sh(ns, *cmd)
        yield ns
    finally:
        # the pair dies with either end; the engine's namespace outlives this one, so delete it
        subprocess.run(["nsenter", f"--net={e.ns}", "ip", "link", "del", "dyrc0"],
                       capture_output=True)  # fmt: skip
        netns.remove(ns)


def setup_servers(e: Engine) -> dict[str, str]:
    """Sink, echo and HTTP servers published on all addresses; an idle client container.
    Returns the sink's and the echo server's bridge addresses."""
    e.docker("run", "-d", "--name", "sink", "-p", f"{PORTS['sink']}:5001", "dy-netbench:bench",
             "/netbench", "sink", "5001")  # fmt: skip
    e.docker("run", "-d", "--name", "echo", "-p", f"{PORTS['echo']}:7", "dy-netbench:bench",
             "/netbench", "echo", "7")  # fmt: skip
    e.docker("run", "-d", "--name", "web", "-p", f"{PORTS['http']}:80", "busybox", "sh", "-c",
             HTTPD)  # fmt: skip
    e.docker("run", "-d", "--name", "client", "dy-netbench:bench", "/netbench", "idle")
    time.sleep(0.5)
    fmt = "{{.NetworkSettings.IPAddress}}"
    return {name: e.docker("inspect", "-f", fmt, name).strip() for name in ("sink", "echo")}


def netbench(ns: Path, tool: Path, *args: str) -> list[float]:
    """Run the host-side C client inside `ns`; its printed numbers."""
    r = subprocess.run(["nsenter", f"--net={ns}", str(tool), *args], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"netbench {' '.join(args)} in {ns}: {r.stderr}")
    return [float(x) for x in r.stdout.split()]


def run_rm(e: Engine) -> float:
    t0 = time.perf_counter()
    e.docker("run", "--rm", "busybox", "true")
    return time.perf_counter() - t0


class Target:
    """Where one engine's cases run: its namespaces, the C client, the servers' bridge addresses."""

    def __init__(self, e: Engine, tool: Path, client_ns: Path, ips: dict[str, str]) -> None:
        self.e, self.tool, self.client_ns, self.ips = e, tool, client_ns, ips

    def cases(self, args: argparse.Namespace) -> dict[str, Callable[[], Sequence[float]]]:
        """name -> a measurement returning one value per metric of the case."""
        n, mb, size = str(args.requests), str(args.mb), str(args.size)
        # lo: a client in the engine's own namespace (dockerd: docker-proxy; dockyard: output DNAT
        # via route_localnet); routed: a client one hop away (prerouting DNAT on both engines)
        sides = {"lo": (self.e.ns, "127.0.0.1"), "routed": (self.client_ns, f"{ROUTED_NET}.1")}
        out: dict[str, Callable[[], Sequence[float]]] = {
            "bridge MB/s": self._exec("send", self.ips["sink"], "5001", mb),
            "bridge rr us": self._exec("rr", self.ips["echo"], "7", n, size),
            "bridge crr us": self._exec("crr", self.ips["echo"], "7", n, size),
        }
        for side, (ns, host) in sides.items():
            out[f"{side} MB/s"] = self._c(ns, "send", host, str(PORTS["sink"]), mb)
            out[f"{side} rr us"] = self._c(ns, "rr", host, str(PORTS["echo"]), n, size)
            out[f"{side} crr us"] = self._c(ns, "crr", host, str(PORTS["echo"]), n, size)
        out["lo http us"] = self._c(self.e.ns, "http", "127.0.0.1", str(PORTS["http"]),
                                    str(args.http))  # fmt: skip
        out["run --rm s"] = lambda: [run_rm(self.e)]
        return out

    def _c(self, ns: Path, *args: str) -> Callable[[], Sequence[float]]:
        return lambda: netbench(ns, self.tool, *args)

    def _exec(self, *args: str) -> Callable[[], Sequence[float]]:
        """The C client in the client container (timed inside it: exec's cost is not counted)."""
        return lambda: [
            float(x) for x in self.e.docker("exec", "client", "/netbench", *args).split()
        ]


# metrics of a case beyond its first (rr/crr/http print the median and the p90)
P90 = ("rr us", "crr us", "http us")


def record(res: dict[str, list[float]], case: str, values: Sequence[float]) -> None:
    res.setdefault(case, []).append(values[0])
    if case.endswith(P90):
        res.setdefault(case.replace(" us", " p90 us"), []).append(values[1])


def summarize(results: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    print(f"{'case':16} {'dockerd':>10} {'dockyard':>10} {'ratio':>7}   dockyard range")
    for case in results["dockerd"]:
        a, b = results["dockerd"][case], results["dockyard"][case]
        ma, mb = statistics.median(a), statistics.median(b)
        ratio = mb / ma if ma else 0.0  # e.g. DNS lag: 0 ms on both sides
        summary[case] = {"dockerd": ma, "dockyard": mb, "ratio": ratio,
                         "dockerd_all": a, "dockyard_all": b}  # fmt: skip
        print(f"{case:16} {ma:10.3f} {mb:10.3f} {ratio:6.2f}x   "
              f"[{min(b):.3f}-{max(b):.3f}] vs [{min(a):.3f}-{max(a):.3f}]")  # fmt: skip
    return summary


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh engines, warm-up, args.rounds interleaved rounds; the run's summary document."""
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-net-", dir="/var/tmp"))
    results: dict[str, dict[str, list[float]]] = {"dockerd": {}, "dockyard": {}}
    load = [os.getloadavg()[0]]
    try:
        with engines(base) as (dk, dy), contextlib.ExitStack() as stack:
            tool = base / "tool" / "netbench"
            targets = [Target(e, tool, stack.enter_context(routed_client(e, base)),
                              setup_servers(e)) for e in (dk, dy)]  # fmt: skip
            warm = argparse.Namespace(**{**vars(args), "mb": 50, "requests": 100, "http": 20})
            for t in targets:
                for fn in t.cases(warm).values():
                    fn()
            for r in range(args.rounds):
                plans = [t.cases(args) for t in targets]
                for case in plans[0]:
                    # alternate who goes first so drift on a shared machine hits both engines
                    for i in (0, 1) if r % 2 == 0 else (1, 0):
                        record(results[targets[i].e.name], case, plans[i][case]())
                        time.sleep(0.05)
                load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    summary = summarize(results)
    print(f"load average (1 min) during the run: {min(load):.2f}-{max(load):.2f}")
    return {"cases": summary, "load1": load, "rounds": args.rounds, "args": vars(args)}


def across(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Medians over runs of each run's medians, and the range of the per-run ratios."""
    cases = [r["cases"] for r in runs]
    out: dict[str, dict[str, float]] = {}
    print(f"\n{len(runs)} runs: {'case':16} {'dockerd':>10} {'dockyard':>10} {'ratio':>7}  range")
    for case in cases[0]:
        rows = [c[case] for c in cases]
        ratios = [row["ratio"] for row in rows]
        out[case] = {k: statistics.median(row[k] for row in rows) for k in ("dockerd", "dockyard")}
        out[case] |= {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
        print(f"{' ' * 8}{case:16} {out[case]['dockerd']:10.3f} {out[case]['dockyard']:10.3f} "
              f"{out[case]['ratio']:6.2f}x  [{min(ratios):.2f}-{max(ratios):.2f}]")  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=1, help="whole runs, each with fresh engines")
    ap.add_argument("--mb", type=int, default=1000, help="MiB per throughput sample")
    # crr leaves a TIME_WAIT socket per round trip where nothing reuses it (docker-proxy's side):
    # keep rounds x requests well under the 28k ephemeral ports
    ap.add_argument("--requests", type=int, default=1500, help="round trips per rr/crr sample")
    ap.add_argument("--http", type=int, default=300, help="requests per http sample")
    ap.add_argument("--size", type=int, default=64, help="bytes each way per round trip")
    ap.add_argument("--out", default="network.json", help="file name under bench/results/")
    args = ap.parse_args()
    out = ROOT / "bench" / "results" / args.out
    out.parent.mkdir(exist_ok=True)
    runs = []
    for i in range(args.repeat):
        runs.append(run_once(args))
        if args.repeat > 1:
            out.with_name(f"{out.stem}-run{i + 1}{out.suffix}").write_text(
                json.dumps(runs[-1], indent=2) + "\n"
            )
    doc = runs[0] if args.repeat == 1 else {"runs": args.repeat, "cases": across(runs)}
    out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
