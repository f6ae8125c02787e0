"""`cp` benchmark (S11): a 100 MiB / 1000-file tree copied into and out of a container, with the
docker CLI against dockyard and against a private dockerd, interleaved in one run; our own CLI
against dockyard too.

    .venv/bin/python bench/cp.py [--rounds N] [--files 1000] [--mib 100]

Not a test: medians and ratios (dockyard / dockerd) go to bench/results/cp.json.
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
OURS = [str(ROOT / ".venv/bin/python"), "-m", "dockyard"]


def run(cli: list[str], env: dict[str, str], *args: str) -> str:
    r = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{args}: {r.stderr}")
    return r.stdout


def make_tree(root: Path, files: int, mib: int) -> None:
    """`files` files over 10 directories, `mib` MiB in total (incompressible data)."""
    size = mib * (1 << 20) // files
    for i in range(files):
        d = root / f"d{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(os.urandom(size))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--mib", type=int, default=100)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-cp-", dir="/var/tmp"))
    d = Daemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", "dockyard-bench-cp")
    d.start()
    d.api("POST", "/dockyard/images/bootstrap")
    src = tmp / "tree"
    make_tree(src, args.files, args.mib)
    results: dict[str, dict[str, list[float]]] = {}
    stack = contextlib.ExitStack()
    try:
        engines: list[tuple[str, list[str], dict[str, str]]] = [
            ("dockyard", [DOCKER], d.env()),
            ("dockyard CLI", OURS, d.env()),
        ]
        if oracle_dockerd.available():
            sock = stack.enter_context(oracle_dockerd.private_dockerd(tmp / "oracle"))
            engines.append(("dockerd", [DOCKER], dict(os.environ, DOCKER_HOST=f"unix://{sock}")))
        ids = {name: run(cli, env, "run", "-d", "busybox", "sleep", "3600").strip()
               for name, cli, env in engines}  # fmt: skip
        for n in range(args.rounds):
            for name, cli, env in engines:
                cid = ids[name]
                t0 = time.perf_counter()
                run(cli, env, "cp", str(src), f"{cid}:/in{n}")
                results.setdefault("cp in", {}).setdefault(name, []).append(
                    time.perf_counter() - t0
                )
                out = tmp / f"out-{n}"
                t0 = time.perf_counter()
                run(cli, env, "cp", f"{cid}:/in{n}", str(out))
                results.setdefault("cp out", {}).setdefault(name, []).append(
                    time.perf_counter() - t0
                )
                shutil.rmtree(out)
        for name, cli, env in engines:
            run(cli, env, "rm", "-f", ids[name])
    finally:
        d.stop()
        teardown_host_state(d)
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{args.mib} MiB / {args.files} files, median of {args.rounds}")
    print(f"{'case':10} {'engine':14} {'median':>8} {'ratio':>7}")
    report: dict[str, dict[str, float]] = {}
    for case, per in results.items():
        base = statistics.median(per["dockerd"]) if "dockerd" in per else None
        for name, values in per.items():
            m = statistics.median(values)
            ratio = f"{m / base:.2f}" if base else "-"
            print(f"{case:10} {name:14} {m:7.3f}s {ratio:>7}")
            report.setdefault(case, {})[name] = m
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "cp.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
