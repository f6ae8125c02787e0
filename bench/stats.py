"""Stats benchmark (#15, E6): `docker stats --no-stream` over many running containers, dockyard vs
a real dockerd, interleaved in one run.

    .venv/bin/python bench/stats.py [--rounds N] [--many N]

Each engine runs `--many` busybox `sleep` containers (`--network none`: the oracle has no
bridge); then, round after round and alternating between the engines, each docker CLI found
(Debian's 20.10, a current one) asks for one table. The CLI asks every container with
stream=false: dockerd answers after its collector's next tick; dockyard samples twice a short
gap apart when it has no recent sample (`cold`: each round waits until dockyard's cache has
expired) or uses the one it took last (`again`: the same table asked at once). Also: the
daemon's CPU time while the containers run and nobody asks (nothing should run for them).
Prints medians and dockyard/dockerd ratios. Not a test: numbers go to the issue notes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import (  # noqa: E402
    Engine,
    finish,
    report,
    run_d_many,
    sh,
    start_daemon,
    start_oracle,
)

from dockyard.services.containers.stats import MAX_AGE  # noqa: E402

CLIS = [c for c in ("/usr/bin/docker", "/usr/local/bin/docker") if os.access(c, os.X_OK)]
IDLE = 10.0


def cli_label(cli: str) -> str:
    out = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout
    return out.split(",")[0].replace("Docker version ", "CLI ")


def table(e: Engine, cli: str, many: int) -> float:
    t0 = time.perf_counter()
    out = sh(e.env, cli, "stats", "--no-stream")
    elapsed = time.perf_counter() - t0
    rows = out.count("\n") - 1
    if rows != many:
        raise RuntimeError(f"{e.name}: {rows} rows, want {many}:\n{out}")
    return elapsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--many", type=int, default=100)
    args = ap.parse_args()
    d = start_daemon("dockyard-bench-stats")
    tmp = d.root
    assert d.proc is not None
    dy = Engine("dockyard", d.env())
    results: dict[str, dict[str, list[float]]] = {}
    stack = contextlib.ExitStack()
    labels = {cli: cli_label(cli) for cli in CLIS}

    def record(case: str, e: Engine, value: float) -> None:
        results.setdefault(case, {}).setdefault(e.name, []).append(value)

    try:
        oracle = start_oracle(stack, tmp)
        engines = [dy] + ([oracle] if oracle else [])
        running = {e.name: run_d_many(e, args.many) for e in engines}
        c0 = cpu_seconds(d.proc.pid)
        time.sleep(IDLE)
        record(f"daemon CPU s, {IDLE:.0f} s idle ({args.many} running)", dy,
               cpu_seconds(d.proc.pid) - c0)  # fmt: skip
        for _ in range(args.rounds):
            time.sleep(MAX_AGE + 0.5)  # dockyard's cached samples have expired
            for cli in CLIS:
                for e in engines:
                    record(f"stats --no-stream x{args.many}, cold ({labels[cli]})", e,
                           table(e, cli, args.many))  # fmt: skip
                    record(f"stats --no-stream x{args.many}, again ({labels[cli]})", e,
                           table(e, cli, args.many))  # fmt: skip
        for e in engines:
            e.docker("rm", "-f", *running[e.name])
    finally:
        finish(d, stack, tmp)
    report(results, "stats")


if __name__ == "__main__":
    main()
