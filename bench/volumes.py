"""Volume benchmarks (issue 3, S5/S8): dockyard vs a real dockerd, interleaved in one run.

    .venv/bin/python bench/volumes.py [--volumes 200] [--containers 50] [--rounds 10]

Both engines are driven by the same official docker CLI: `volume create` N times, `volume ls`
with N volumes, `system df` with M containers (each using one of the volumes). Prints medians
and ratios (dockyard / dockerd); targets: volume create <= 0.5x, system df <= 1.0x.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine import Engine, timed  # noqa: E402
from tests import oracle as oracle_dockerd  # noqa: E402
from tests.conftest import Daemon, UnixHTTPConnection, teardown_host_state  # noqa: E402


def api(sock: str, method: str, path: str, body: object = None) -> None:
    """One raw Engine API call: the engine's own cost, without the CLI's ~20 ms start-up."""
    conn = UnixHTTPConnection(sock)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status >= 400:
        raise RuntimeError(f"{method} {path}: {resp.status}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--volumes", type=int, default=200)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-vol-", dir="/var/tmp"))
    d = Daemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", "dockyard-bench-vol")
    d.start()
    d.api("POST", "/dockyard/images/bootstrap")
    engines = [Engine("dockyard", d.env())]
    socks = {"dockyard": str(d.socket)}
    results: dict[str, dict[str, list[float]]] = {}
    stack = contextlib.ExitStack()

    def record(case: str, e: Engine, value: float) -> None:
        results.setdefault(case, {}).setdefault(e.name, []).append(value)

    try:
        if oracle_dockerd.available():
            sock = stack.enter_context(oracle_dockerd.private_dockerd(tmp / "oracle"))
            engines.append(Engine("dockerd", dict(os.environ, DOCKER_HOST=f"unix://{sock}")))
            socks["dockerd"] = sock
        n, m = args.volumes, args.containers
        for i in range(n):
            for e in engines:
                record("volume create", e, timed(lambda e=e, i=i: e.docker("volume", "create", f"bv{i}")))  # fmt: skip
            for e in engines:
                body = {"Name": f"api{i}"}
                record("API POST /volumes/create", e,
                       timed(lambda e=e, b=body: api(socks[e.name], "POST", "/volumes/create", b)))  # fmt: skip
                # The fixed cost of one request (client, connect, HTTP): subtracted below to
                # show what the daemon itself spends on creating a volume.
                record("API GET /_ping", e, timed(lambda e=e: api(socks[e.name], "GET", "/_ping")))
        for _ in range(args.rounds):
            for e in engines:
                record(f"API GET /volumes ({2 * n})", e,
                       timed(lambda e=e: api(socks[e.name], "GET", "/volumes")))  # fmt: skip
                record(f"volume ls ({n} volumes)", e, timed(lambda e=e: e.docker("volume", "ls")))
        for e in engines:
            for i in range(m):
                e.docker("create", "-v", f"bv{i}:/v", "busybox", "true")
        for _ in range(args.rounds):
            for e in engines:
                record(f"system df ({m} containers)", e, timed(lambda e=e: e.docker("system", "df")))  # fmt: skip
                record(f"API GET /system/df ({m} containers)", e,
                       timed(lambda e=e: api(socks[e.name], "GET", "/system/df")))  # fmt: skip
                record(f"system df -v ({m} containers)", e,
                       timed(lambda e=e: e.docker("system", "df", "-v")))  # fmt: skip
        for e in engines:
            e.docker("container", "prune", "-f")
            e.docker("volume", "rm", *(f"bv{i}" for i in range(n)), *(f"api{i}" for i in range(n)))
    finally:
        d.stop()
        teardown_host_state(d)
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if "API GET /_ping" in results:
        create, ping = results["API POST /volumes/create"], results["API GET /_ping"]
        results["API volume create minus ping"] = {
            name: [statistics.median(create[name]) - statistics.median(ping[name])]
            for name in create
        }
    print(f"{'case':35} {'dockyard':>10} {'dockerd':>10} {'ratio':>7}")
    report = {}
    for case, per in results.items():
        a = statistics.median(per["dockyard"])
        b = statistics.median(per["dockerd"]) if "dockerd" in per else None
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{case:35} {a:9.4f}s {(b if b is not None else float('nan')):9.4f}s {ratio:>7}")
        report[case] = {"dockyard": a, "dockerd": b, "ratio": a / b if b else None}
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "volumes.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
