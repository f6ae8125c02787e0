"""Engine benchmarks (issue 2): dockyard vs a real dockerd, interleaved in one run.

    .venv/bin/python bench/engine.py [--rounds N]

Starts a private dockyard daemon and, when `dockerd` is installed, a private dockerd (own data root,
socket, no bridge, no iptables), imports the same busybox tree into both, then measures each case
alternately on both engines and prints medians and ratios (dockyard / dockerd). Not a test: numbers
go to the issue notes.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import oracle as oracle_dockerd  # noqa: E402
from tests.conftest import NO_HUB, Daemon, teardown_host_state  # noqa: E402

DOCKER = shutil.which("docker") or "docker"
# The oracle runs without a bridge (it must not touch the host's networking), so both engines run
# their containers with `--network none` here: this measures the engine; bench/network.py measures
# the bridge against a dockerd in its own network namespace.
NET = ("--network", "none")
IDLE_SECONDS = 35.0
PS_SAMPLES = 15


def sh(env: dict[str, str], *args: str) -> str:
    r = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{args}: {r.stderr}")
    return r.stdout


class Engine:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env

    def docker(self, *args: str) -> str:
        return sh(self.env, DOCKER, *args)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()[:200]
    except OSError:  # another test run's process exited meanwhile
        return b""


def run_d_many(e: Engine, n: int) -> list[str]:
    return [e.docker("run", "-d", *NET, "busybox", "sleep", "600").strip() for _ in range(n)]


class BenchDaemon(Daemon):
    """The test daemon at dockerd's default log level (info): the tests' debug log writes a
    line per runc call, which the oracle dockerd does not pay either."""

    def start(self) -> None:
        self.log_path = self.root / "daemon.log"
        argv = [sys.executable, "-m", "dockyard", "daemon", "--data-root", str(self.data_root),
                "--exec-root", str(self.exec_root), "-H", self.host,
                "--cgroup-parent", self.cgroup_parent, "--log-level", "info",
                "--exec-opt", f"native.cgroupdriver={self.cgroup_driver}", "--hub-endpoint", NO_HUB,
                "--bridge", self.bridge]  # fmt: skip
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                argv, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.time() + 30
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                if self.api("GET", "/_ping")[0] == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("daemon did not answer /_ping")


def start_daemon(cgroup_parent: str) -> BenchDaemon:
    """A bench daemon in a fresh directory under /var/tmp, busybox bootstrapped."""
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir="/var/tmp"))
    d = BenchDaemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", cgroup_parent)
    d.start()
    d.api("POST", "/dockyard/images/bootstrap")
    return d


def start_oracle(stack: contextlib.ExitStack, tmp: Path) -> Engine | None:
    """The private dockerd (stopped when `stack` closes), when dockerd is installed."""
    if not oracle_dockerd.available():
        return None
    sock = stack.enter_context(oracle_dockerd.private_dockerd(tmp / "oracle"))
    return Engine("dockerd", dict(os.environ, DOCKER_HOST=f"unix://{sock}"))


def finish(d: BenchDaemon, stack: contextlib.ExitStack, tmp: Path) -> None:
    """Remove the bench daemon with everything it made, the oracle (in `stack`) and `tmp`."""
    d.api("POST", "/containers/prune")
    d.stop()
    teardown_host_state(d)
    stack.close()
    shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict[str, dict[str, list[float]]], name: str) -> None:
    """Print each case's medians and the dockyard/dockerd ratio (seconds, or KiB for RSS);
    write them to bench/results/<name>.json."""
    width = max([len(case) for case in results] + [4])
    print(f"{'case':{width}} {'dockyard':>12} {'dockerd':>12} {'ratio':>7}")
    doc = {}
    for case, per in results.items():
        a = statistics.median(per["dockyard"])
        b = statistics.median(per["dockerd"]) if "dockerd" in per else None
        unit = "" if "RSS" in case else "s"
        theirs = f"{b:11.3f}{unit}" if b is not None else f"{'-':>{11 + len(unit)}}"
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{case:{width}} {a:11.3f}{unit} {theirs} {ratio:>7}")
        doc[case] = {"dockyard": a, "dockerd": b}
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / f"{name}.json").write_text(json.dumps(doc, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--many", type=int, default=50)
    args = ap.parse_args()
    d = start_daemon("dockyard-bench")
    tmp = d.root
    time.sleep(1)
    assert d.proc is not None
    fresh_rss = rss_kib(d.proc.pid)
    # idle: the daemon frees idle caches and trims its heap every 30 s (dockyard/heap.py)
    time.sleep(IDLE_SECONDS)
    fresh_idle_rss = rss_kib(d.proc.pid)
    dy = Engine("dockyard", d.env())
    dy_cli = dict(d.env())
    results: dict[str, dict[str, list[float]]] = {}
    stack = contextlib.ExitStack()

    def record(case: str, e: Engine, value: float) -> None:
        results.setdefault(case, {}).setdefault(e.name, []).append(value)

    record("daemon fresh RSS KiB (1 s after start)", dy, fresh_rss)
    record(f"daemon fresh RSS KiB (idle {IDLE_SECONDS:.0f} s)", dy, fresh_idle_rss)

    try:
        oracle = start_oracle(stack, tmp)
        engines = [dy] + ([oracle] if oracle else [])
        for _ in range(args.rounds):
            for e in engines:
                record("run --rm busybox true (docker CLI)", e,
                       timed(lambda e=e: e.docker("run", "--rm", *NET, "busybox", "true")))  # fmt: skip
                cid = ""

                def lifecycle(e: Engine = e) -> None:
                    nonlocal cid
                    cid = e.docker("create", *NET, "busybox", "true").strip()
                    e.docker("start", cid)
                    e.docker("wait", cid)
                    e.docker("rm", cid)

                record("create+start+wait+rm", e, timed(lifecycle))
            record("run --rm busybox true (dockyard CLI)", dy, timed(
                lambda: sh(dy_cli, str(ROOT / ".venv/bin/dockyard"), "run", "--rm", *NET, "busybox", "true")))  # fmt: skip
        running: dict[str, list[str]] = {}
        for e in engines:
            t0 = time.perf_counter()
            running[e.name] = run_d_many(e, args.many)
            record(f"{args.many} x run -d", e, time.perf_counter() - t0)
        # both engines hold their 50 at once, and the listings alternate between them, so a
        # load spike from elsewhere on the machine hits both sides alike
        for _ in range(PS_SAMPLES):
            for e in engines:
                record(f"ps ({args.many} running)", e, timed(lambda e=e: e.docker("ps")))
                record(f"ps -s ({args.many} running)", e, timed(lambda e=e: e.docker("ps", "-s")))
        shims = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                 and b"dockyard-shim" in _cmdline(p)]  # fmt: skip
        record("monitor RSS KiB (mean)", dy, statistics.mean(rss_kib(p) for p in shims))
        for e in engines:
            e.docker("rm", "-f", *running[e.name])
        time.sleep(IDLE_SECONDS)  # idle, as above; dockerd gets the same pause
        record("daemon idle RSS KiB (after the runs)", dy, rss_kib(d.proc.pid))
        if oracle:
            pid = int((tmp / "oracle" / "d.pid").read_text())
            record("daemon idle RSS KiB (after the runs)", oracle, rss_kib(pid))
    finally:
        finish(d, stack, tmp)
    report(results, "engine")


if __name__ == "__main__":
    main()
