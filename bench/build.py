"""Build benchmarks (issue 6, MISSION S1): dockyard vs a real dockerd, interleaved in one run.

    .venv/bin/python bench/build.py [--rounds N]

Cases, all through the official docker CLI with the legacy builder (DOCKER_BUILDKIT=0):
a 10-RUN Dockerfile with --no-cache, the same fully cached, and a COPY of 1,000 small files
(--no-cache). Prints medians and ratios (dockyard / dockerd). Targets: 10-RUN --no-cache <= 0.6x,
cached rebuild <= 1.0x. Not a test: numbers go to the issue notes.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import oracle as oracle_dockerd  # noqa: E402
from tests.conftest import Daemon, teardown_host_state  # noqa: E402

DOCKER = shutil.which("docker") or "docker"


def build(env: dict[str, str], *args: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([DOCKER, "build", "-q", *args], env={**env, "DOCKER_BUILDKIT": "0"},
                       capture_output=True, text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"build {args}: {r.stderr}")
    return time.perf_counter() - t0


def contexts(base: Path) -> dict[str, Path]:
    runs = base / "runs"
    runs.mkdir(parents=True)
    lines = ["FROM busybox"] + [f"RUN echo step{i} > /step{i}" for i in range(10)]
    (runs / "Dockerfile").write_text("\n".join(lines) + "\n")
    files = base / "files"
    (files / "data").mkdir(parents=True)
    for i in range(1000):
        (files / "data" / f"f{i:04d}.txt").write_text(f"file {i}\n" * 4)
    (files / "Dockerfile").write_text("FROM busybox\nCOPY data /data\n")
    return {"runs": runs, "files": files}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-build-", dir="/var/tmp"))
    ctx = contexts(tmp / "ctx")
    d = Daemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", "dockyard-bench-build")
    d.start()
    d.api("POST", "/dockyard/images/bootstrap")
    engines: dict[str, dict[str, str]] = {"dockyard": d.env()}
    results: dict[str, dict[str, list[float]]] = {}
    stack = contextlib.ExitStack()
    try:
        if oracle_dockerd.available():
            sock = stack.enter_context(oracle_dockerd.private_dockerd(tmp / "oracle"))
            engines["dockerd"] = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        for env in engines.values():  # warm-up: the cached case needs a first build
            build(env, str(ctx["runs"]))
        for _ in range(args.rounds):
            for name, env in engines.items():
                per = results.setdefault("10 x RUN --no-cache", {})
                per.setdefault(name, []).append(build(env, "--no-cache", str(ctx["runs"])))
                per = results.setdefault("10 x RUN cached", {})
                per.setdefault(name, []).append(build(env, str(ctx["runs"])))
                per = results.setdefault("COPY 1,000 files --no-cache", {})
                per.setdefault(name, []).append(build(env, "--no-cache", str(ctx["files"])))
    finally:
        d.stop()
        teardown_host_state(d)
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'case':32} {'dockyard':>10} {'dockerd':>10} {'ratio':>7}")
    report = {}
    for case, per in results.items():
        a = statistics.median(per["dockyard"])
        b = statistics.median(per["dockerd"]) if "dockerd" in per else None
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{case:32} {a:9.3f}s {(b if b is not None else float('nan')):9.3f}s {ratio:>7}")
        report[case] = {"dockyard": a, "dockerd": b}
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "build.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
