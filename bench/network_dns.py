"""User-network and embedded-DNS benchmarks (issue 5, MISSION N5): dockyard vs a real dockerd,
interleaved in one run, each engine in its own network namespace (bench/network.py's engines()).

    .venv/bin/python bench/network_dns.py [--rounds N] [--queries N]

Cases (ratios are dockyard / dockerd, lower is better):
  dns ms        one A lookup of a container name at 127.0.0.11 from inside a container's netns
                (a dnslib client in a thread that joined the netns; median of --queries)
  create+rm s   `docker network create` + `docker network rm`
  run --rm s    `docker run --rm --network NET busybox true`
  lag ms        from `docker run -d --name X --network NET` returning to X resolving
Targets: dns <= 0.5x, run --rm <= 0.4x, lag 0 ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.network import Engine, engines  # noqa: E402
from dnslib import DNSRecord  # noqa: E402

from dockyard.network import netns  # noqa: E402


def sandbox(e: Engine, cid: str) -> Path:
    return Path(e.docker("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", cid).strip())


def lookups(path: Path, name: str, n: int) -> list[float]:
    """Per-lookup seconds; a lost query counts as its 1 s timeout."""
    out: list[float] = []

    def run() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1)
        for _ in range(n):
            q = DNSRecord.question(name).pack()
            t0 = time.perf_counter()
            s.sendto(q, ("127.0.0.11", 53))
            try:
                s.recvfrom(4096)
                out.append(time.perf_counter() - t0)
            except TimeoutError:
                out.append(1.0)
        s.close()

    netns.run_inside(path, run)
    return out


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


def timed(e: Engine, *args: str) -> float:
    t0 = time.perf_counter()
    e.docker(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-dns-", dir="/var/tmp"))
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with engines(base) as (dk, dy):
            askers = {}
            for e in (dk, dy):
                e.docker("network", "create", "--subnet", "10.124.0.0/24", "bn")
                e.docker(
                    "run", "-d", "--name", "target", "--network", "bn", "busybox", "sleep", "3600"
                )
                cid = e.docker("run", "-d", "--network", "bn", "busybox", "sleep", "3600").strip()
                askers[e.name] = sandbox(e, cid)
                lookups(askers[e.name], "target", 20)  # warm up
            for r in range(args.rounds):
                for e in (dk, dy):
                    res = results.setdefault(e.name, {})
                    qs = lookups(askers[e.name], "target", args.queries)
                    res.setdefault("dns ms", []).append(statistics.median(qs) * 1e3)
                    res.setdefault("dns q/s", []).append(len(qs) / sum(qs))
                    res.setdefault("create+rm s", []).append(
                        timed(e, "network", "create", f"x{r}") + timed(e, "network", "rm", f"x{r}")
                    )
                    res.setdefault("run --rm s", []).append(
                        timed(e, "run", "--rm", "--network", "bn", "busybox", "true")
                    )
                    res.setdefault("lag ms", []).append(lag(e, askers[e.name], f"l{r}") * 1e3)
            for e in (dk, dy):
                e.docker("rm", "-f", *e.docker("ps", "-aq").split(), check=False)
                e.docker("network", "rm", "bn", check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'case':14} {'dockerd':>10} {'dockyard':>10} {'ratio':>7}")
    summary: dict[str, dict[str, float]] = {}
    for case in results["dockerd"]:
        a = statistics.median(results["dockerd"][case])
        b = statistics.median(results["dockyard"][case])
        summary[case] = {"dockerd": a, "dockyard": b, "ratio": b / a if a else 0.0}
        print(f"{case:14} {a:10.3f} {b:10.3f} {summary[case]['ratio']:6.2f}x")
    out = ROOT / "bench" / "results" / "network_dns.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
