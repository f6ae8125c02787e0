"""Scale benchmark (#17, R1): cost curves at 10, 100, 500 and 1,000 containers, dockyard vs a
real dockerd in one run, each engine in its own network namespace (bench/network.py's engines():
its own bridge and firewall there, the host's untouched).

    .venv/bin/python bench/scale.py [--sizes 10,100,500,1000] [--gets 20000] [--clients 20]

Each engine grows alone, dockyard first, in steps of 10 containers, while the other engine runs
but holds none of them (as a host runs one engine; the first's containers are removed before the
second starts). With --together both grow at once, alternating steps: then every runc and kernel
call also pays for the other engine's containers (dockerd's ~4 mounts per container, its shims).
Every container is a busybox `sleep` on a user network `sc` (so the embedded DNS holds every
name). At each size:
  run -d ms       per container, the mean over the last 10 `docker run -d` before the size
  ps ms           `docker ps`; ps -s ms: `docker ps -s` (each the median of 9 calls)
  ps API ms       `GET /containers/json`, and with `size=1`, over a new connection each (the
                  median of 21): the engine's part, without the CLI's own start (~20 ms)
  inspect ms      `docker inspect` of every container, one CLI call (the median of 9)
  stats ms        `docker stats --no-stream`
  dns us          one A lookup of a container name at 127.0.0.11 from a container (median over
                  the first, middle and last names; bench/dnsbench.c, timed inside)
  get/s, p99 ms   --gets (20,000) `GET /containers/{id}/json` of random containers over
                  --clients (20) keep-alive connections, by bench/getbench.c (compiled: a
                  Python client tops out near 4,500/s, the engines' difference unseen)
  RSS MiB         the daemon's (dockerd: dockerd + its containerd); monitor RSS KiB: mean per
                  container (dockyard-shim; containerd-shim-runc-v2 serves one container each)
At the largest size: `stop -t 1` and `rm` of everything (per container), and for dockyard a
kill -9 of the daemon and a restart that re-adopts every container (time until `ps` lists all of
them running; dockerd has no live restore here). dockyard's RSS idle before and after the load
(after: once back within 10 % of before, when the daemon has recycled itself, or after 90 s).
Prints a table per engine and the dockyard/dockerd ratios; writes bench/results/scale.json and
bench/results/scale.svg (a panel per case, both engines' curves). Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.chart import write_svg  # noqa: E402
from bench.network import DOCKER, Engine, engines  # noqa: E402
from bench.network_dns import dnsbench_tar, lookups  # noqa: E402
from tests.oracle import wait_until_serving  # noqa: E402

STEP = 10
REPEAT = 9  # calls of ps, ps -s and inspect per size (their median)
API_REPEAT = 21  # requests of the API-level cases
# operations over every container: their per-container cost is what must not grow
OVER_ALL = {"ps ms", "ps -s ms", "ps API ms", "ps -s API ms", "inspect ms", "stats ms"}
IDLE = 35.0  # the daemon trims its heap after 30 s idle (dockyard/heap.py)
RECYCLE_WAIT = 90.0  # and replaces itself after 60 s without a client (dockyard/recycle.py)


def _procs() -> list[tuple[int, bytes]]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                out.append((int(p.name), (p / "cmdline").read_bytes()))
    return out


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Side:
    """One engine and what the bench knows of its processes."""

    def __init__(self, engine: Engine, base: Path) -> None:
        self.e, self.base = engine, base
        self.ids: list[str] = []

    def daemon_pids(self) -> list[int]:
        root = str(self.base / self.e.name).encode()
        if self.e.name == "dockyard":
            return [pid for pid, cmd in _procs() if root in cmd and b"-m\0dockyard\0daemon" in cmd]
        # dockerd and the containerd it started
        return [pid for pid, cmd in _procs() if root in cmd
                and cmd.split(b"\0")[0].rsplit(b"/", 1)[-1] in (b"dockerd", b"containerd")]  # fmt: skip

    def monitor_pids(self) -> list[int]:
        if self.e.name == "dockyard":
            root = str(self.base / "dockyard").encode()
            return [pid for pid, cmd in _procs() if b"dockyard-shim" in cmd and root in cmd]
        root = str(self.base / "dockerd").encode()
        return [pid for pid, cmd in _procs() if b"containerd-shim" in cmd and root in cmd]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def getbench(d: Path) -> Path:
    """bench/getbench.c built into `d`: a compiled client, since a Python one tops out near
    4,500 requests/s here whatever the engine (it measured both engines alike)."""
    d.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(d / "getbench"),
                    str(ROOT / "bench" / "getbench.c")], check=True)  # fmt: skip
    return d / "getbench"


def gets(tool: Path, sock: str, ids: list[str], total: int, clients: int) -> tuple[float, float]:
    """(requests/s, p99 ms) of `total` inspects spread over `clients` keep-alive connections."""
    out = subprocess.run([str(tool), sock, str(clients), str(total)], input="\n".join(ids),
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return float(out[0]), float(out[1])


def grow(side: Side, to: int) -> list[float]:
    """Run containers until `to`; the seconds each `run -d` took."""
    took = []
    while len(side.ids) < to:
        n = len(side.ids)
        t0 = time.perf_counter()
        out = side.e.docker("run", "-d", "--name", f"s{n}", "--network", "sc",
                            "busybox", "sleep", "86400")  # fmt: skip
        # the id is the last line: docker 20.10's CLI may log "error waiting for container:
        # context canceled" beside it after a -d run
        cid = [w for w in out.split() if len(w) == 64 and w.isalnum()][-1]
        took.append(time.perf_counter() - t0)
        side.ids.append(cid)
    return took


def measure(
    side: Side, size: int, run_d: list[float], args: argparse.Namespace
) -> dict[str, float]:
    e = side.e
    m: dict[str, float] = {"run -d ms": statistics.mean(run_d[-STEP:]) * 1e3}
    # the CLI's own start (~30 ms) dominates at small sizes: the median of REPEAT calls
    m["ps ms"] = statistics.median(e.timed("ps") for _ in range(REPEAT)) * 1e3
    m["ps -s ms"] = statistics.median(e.timed("ps", "-s") for _ in range(REPEAT)) * 1e3
    for case, query in (("ps API ms", ""), ("ps -s API ms", "?size=1")):
        m[case] = (
            statistics.median(
                api_get(e.sock, "/containers/json" + query) for _ in range(API_REPEAT)
            )
            * 1e3
        )
    m["inspect ms"] = statistics.median(e.timed("inspect", *side.ids) for _ in range(REPEAT)) * 1e3
    m["stats ms"] = e.timed("stats", "--no-stream") * 1e3
    names = [f"s{i}" for i in sorted({0, size // 2, size - 1})]
    m["dns us"] = statistics.median(lookups(e, name, 300)[0] for name in names)
    rate, p99 = gets(args.getbench, e.sock, side.ids, args.gets, args.clients)
    m["get/s"], m["get p99 ms"] = rate, p99
    m["RSS MiB"] = sum(rss_kib(p) for p in side.daemon_pids()) / 1024
    mons = side.monitor_pids()
    m["monitor RSS KiB"] = statistics.mean(rss_kib(p) for p in mons) if mons else float("nan")
    return m


def api_get(sock: str, path: str) -> float:
    """Seconds for one GET over a new unix connection, the body read to its end."""
    conn = _UnixHTTP(sock)
    t0 = time.perf_counter()
    conn.request("GET", path)
    conn.getresponse().read()
    took = time.perf_counter() - t0
    conn.close()
    return took


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def idle_after(side: Side, end: dict[str, float]) -> dict[str, float]:
    """dockyard's RSS once idle after the load: read when back within 10 % of its idle figure
    before (its recycle, D-scale-10), or after RECYCLE_WAIT seconds; and how long that took."""
    t0 = time.monotonic()

    def rss() -> float:
        return sum(map(rss_kib, side.daemon_pids())) / 1024

    time.sleep(IDLE)
    while time.monotonic() - t0 < RECYCLE_WAIT and rss() > 1.1 * end["idle RSS MiB before"]:
        time.sleep(2)
    return {"idle RSS MiB after": rss(), "idle RSS after, s": time.monotonic() - t0}


def restart_dockyard(side: Side, stack: contextlib.ExitStack) -> float:
    """kill -9 the daemon, start it again in its namespace; seconds until `ps` lists every
    container running."""
    (pid,) = side.daemon_pids()
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    os.kill(pid, signal.SIGKILL)
    while _alive(pid):  # the bench's own child: a zombie until engines() reaps it
        time.sleep(0.01)
    t0 = time.perf_counter()
    log = open(side.base / "dockyard" / "log.restart", "wb")  # noqa: SIM115
    stack.callback(log.close)
    proc = subprocess.Popen(["nsenter", f"--net={side.e.ns}", *[a.decode() for a in argv]],
                            stdout=log, stderr=log, start_new_session=True)  # fmt: skip

    def stop() -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    stack.callback(stop)
    wait_until_serving(side.e.sock, proc, "dockyard")
    while len(side.e.docker("ps", "-q").split()) < len(side.ids):
        time.sleep(0.05)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,500,1000")
    ap.add_argument("--gets", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument(
        "--together",
        action="store_true",
        help="grow both engines at once (each then pays for the other's containers)",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    # a SIGTERM (e.g. timeout(1)) unwinds the engines like ^C, so they leave nothing behind
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-scale-", dir="/var/tmp"))
    curves: dict[str, dict[str, list[float]]] = {}
    end: dict[str, dict[str, float]] = {"dockerd": {}, "dockyard": {}}
    try:
        with engines(base) as (dk, dy), contextlib.ExitStack() as stack:
            sides = [Side(dk, base), Side(dy, base)]
            tool = dnsbench_tar(base / "dnstool")
            args.getbench = getbench(base / "gettool")
            for s in sides:
                subprocess.run([DOCKER, "import", "-", "dy-dnsbench:bench"], input=tool,
                               env={**os.environ, "DOCKER_HOST": f"unix://{s.e.sock}"},
                               check=True, capture_output=True)  # fmt: skip
                s.e.docker("network", "create", "--subnet", "10.125.0.0/20", "sc")
                s.e.docker("run", "-d", "--name", "asker", "--network", "sc",
                           "dy-dnsbench:bench", "/dnsbench", "idle")  # fmt: skip
                s.e.docker("run", "--rm", "--network", "sc", "busybox", "true")  # warm up
            time.sleep(IDLE)
            end["dockyard"]["idle RSS MiB before"] = (
                sum(map(rss_kib, sides[1].daemon_pids())) / 1024
            )
            run_d: dict[str, list[float]] = {"dockerd": [], "dockyard": []}
            # one group growing together, or each engine alone while the other holds nothing
            groups = [sides] if args.together else [[sides[1]], [sides[0]]]
            for group in groups:
                for size in sizes:
                    for step in range(len(group[0].ids) + STEP, size + 1, STEP):
                        for s in group:
                            run_d[s.e.name] += grow(s, step)
                    for s in group:
                        got = measure(s, size, run_d[s.e.name], args)
                        for case, v in got.items():
                            curves.setdefault(case, {}).setdefault(s.e.name, []).append(v)
                        print(
                            f"{s.e.name:8} {size:5}: "
                            + "  ".join(f"{k} {v:.1f}" for k, v in got.items()),
                            flush=True,
                        )
                for s in group:
                    n = len(s.ids)
                    if s is sides[1]:
                        end["dockyard"]["restart re-adopt s"] = restart_dockyard(s, stack)
                    end[s.e.name]["stop -t 1 ms/ctr"] = (
                        s.e.timed("stop", "-t", "1", *s.ids) * 1e3 / n
                    )
                    end[s.e.name]["rm ms/ctr"] = s.e.timed("rm", *s.ids) * 1e3 / n
                    s.ids.clear()
                if sides[1] in group:
                    end["dockyard"].update(idle_after(sides[1], end["dockyard"]))
            for s in sides:
                for argv in (("rm", "-f", "asker"), ("network", "rm", "sc")):
                    try:
                        s.e.docker(*argv)
                    except RuntimeError as e:  # dockerd 20.10 may keep a stale endpoint
                        print(f"warning: {e}", file=sys.stderr)
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
    report(sizes, curves, end)


def report(sizes: list[int], curves: dict[str, dict[str, list[float]]],
           end: dict[str, dict[str, float]]) -> None:  # fmt: skip
    print(
        f"\n{'case':18}"
        + "".join(f"{s:>17}" for s in sizes)
        + "   growth (per container where the operation covers all)"
    )
    for case, per in curves.items():
        for engine in ("dockyard", "dockerd"):
            vs = per.get(engine, [])
            growth = vs[-1] / vs[0] if vs and vs[0] else float("nan")
            if case in OVER_ALL:  # per container
                growth *= sizes[0] / sizes[-1]
            print(f"{case + ' ' + engine[:6]:18}" + "".join(f"{v:17.2f}" for v in vs)
                  + f"   {growth:.2f}x")  # fmt: skip
        if per.get("dockerd"):
            ratios = [a / b if b else float("nan") for a, b in zip(per["dockyard"], per["dockerd"],
                                                                     strict=False)]  # fmt: skip
            print(f"{'  ratio':18}" + "".join(f"{r:17.2f}" for r in ratios))
    print()
    for engine, got in end.items():
        for case, v in got.items():
            print(f"{engine:8} {case:24} {v:10.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps({"sizes": sizes, "curves": curves, "end": end},
                                               indent=2) + "\n")  # fmt: skip
    per_ctr = {case: per for case, per in curves.items()}
    write_svg(out / "scale.svg", "dockyard vs dockerd at scale (x: containers)", sizes, per_ctr, "")


if __name__ == "__main__":
    main()
