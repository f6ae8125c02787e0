"""User-network and embedded-DNS benchmarks (issue 5, MISSION N5): dockyard vs a real dockerd,
interleaved in one run, each engine in its own network namespace (bench/network.py's engines()).

    .venv/bin/python bench/network_dns.py [--rounds N] [--queries N]

Cases (ratios are dockyard / dockerd, lower is better):
  dns us        one A lookup of a container name at 127.0.0.11, sequential, timed inside the
                container by a static C client (bench/dnsbench.c; median of --queries)
  dns p90 us    the 90th percentile of the same lookups
  dns q/s       sequential lookups per second (one in flight)
  dns q/s w16   the server's throughput with 16 queries in flight
  create+rm s   `docker network create` + `docker network rm`
  run --rm s    `docker run --rm --network NET busybox true`
  lag ms        from `docker run -d --name X --network NET` returning to X resolving
Targets: dns <= 0.5x, run --rm <= 0.4x, lag 0 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.network import DOCKER, Engine, engines, summarize  # noqa: E402
from dnslib import DNSRecord  # noqa: E402

from dockyard.network import netns  # noqa: E402


def sandbox(e: Engine, cid: str) -> Path:
    return Path(e.docker("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", cid).strip())


def dnsbench_tar(d: Path) -> bytes:
    """An image holding only the static C client (it also idles as the container's process)."""
    d.mkdir(parents=True)
    subprocess.run(["gcc", "-O2", "-static", "-o", str(d / "dnsbench"),
                    str(ROOT / "bench" / "dnsbench.c")], check=True)  # fmt: skip
    return subprocess.run(["tar", "-C", str(d), "-c", "dnsbench"], check=True,
                          capture_output=True).stdout  # fmt: skip


def lookups(e: Engine, name: str, n: int, window: int = 1) -> tuple[float, float, float, int]:
    """(median us, p90 us, queries/s, lost), measured inside the asker container."""
    out = e.docker("exec", "asker", "/dnsbench", "127.0.0.11", name, str(n), str(window)).split()
    return float(out[0]), float(out[1]), float(out[2]), int(out[3])


def resolves(path: Path, name: str) -> bool:
    ok: list[bool] = []

    def run() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1)
        s.sendto(DNSRecord.question(name).pack(), ("127.0.0.11", 53))
        try:
            ok.append(bool(DNSRecord.parse(s.recvfrom(4096)[0]).rr))
        except TimeoutError:
            ok.append(False)
        s.close()

    netns.run_inside(path, run)
    return ok[0]


def lag(e: Engine, asker: Path, name: str) -> float:
    e.docker("run", "-d", "--name", name, "--network", "bn", "busybox", "sleep", "60")
    t0 = time.perf_counter()
    while not resolves(asker, name):
        if time.perf_counter() - t0 > 10:
            break
    took = time.perf_counter() - t0
    e.docker("rm", "-f", name)
    # what the first query after `run` returned costs itself; 0 when it resolved at once
    return 0.0 if took < 0.01 else took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-dns-", dir="/var/tmp"))
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with engines(base) as (dk, dy):
            askers = {}
            tool = dnsbench_tar(base / "dnstool")
            for e in (dk, dy):
                subprocess.run([DOCKER, "import", "-", "dy-dnsbench:bench"], input=tool,
                               env={**os.environ, "DOCKER_HOST": f"unix://{e.sock}"},
                               check=True, capture_output=True)  # fmt: skip
                e.docker("network", "create", "--subnet", "10.124.0.0/24", "bn")
                e.docker(
                    "run", "-d", "--name", "target", "--network", "bn", "busybox", "sleep", "3600"
                )
                e.docker("run", "-d", "--name", "asker", "--network", "bn", "dy-dnsbench:bench",
                         "/dnsbench", "idle")  # fmt: skip
                askers[e.name] = sandbox(e, "asker")
                lookups(e, "target", 200)  # warm up
            lost = {"dockerd": 0, "dockyard": 0}
            for r in range(args.rounds):
                for e in (dk, dy):
                    res = results.setdefault(e.name, {})
                    med, p90, qps, n_lost = lookups(e, "target", args.queries)
                    res.setdefault("dns us", []).append(med)
                    res.setdefault("dns p90 us", []).append(p90)
                    res.setdefault("dns q/s", []).append(qps)
                    qps_w, n_lost_w = lookups(e, "target", args.queries, 16)[2:]
                    res.setdefault("dns q/s w16", []).append(qps_w)
                    lost[e.name] += n_lost + n_lost_w
                    res.setdefault("create+rm s", []).append(
                        e.timed("network", "create", f"x{r}") + e.timed("network", "rm", f"x{r}")
                    )
                    res.setdefault("run --rm s", []).append(
                        e.timed("run", "--rm", "--network", "bn", "busybox", "true")
                    )
                    res.setdefault("lag ms", []).append(lag(e, askers[e.name], f"l{r}") * 1e3)
            for e in (dk, dy):
                e.docker("rm", "-f", *e.docker("ps", "-aq").split(), check=False)
                e.docker("network", "rm", "bn", check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"lost queries: {lost}")
    summary = summarize(results)
    out = ROOT / "bench" / "results" / "network_dns.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
