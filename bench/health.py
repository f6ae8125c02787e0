"""Healthcheck benchmark (#15, E6): the engine's CPU while 100 containers each run a 1 s
healthcheck (`true`), dockyard against a real dockerd in one run.

    .venv/bin/python bench/health.py [--containers 100] [--seconds 30]

Each engine runs in a CPU accounting cgroup of its own (cgroup v1 `cpuacct`, or v2 `cpu.stat`),
entered before it starts, so everything it forks is counted: for dockyard the daemon, its
per-container shims, the per-probe exec shims and `runc exec`; for dockerd, dockerd, containerd,
its shims and `runc exec`. The probes themselves (`true` inside each container) run in the
containers' cgroups on both sides and are not counted. The daemons' own user+sys from
/proc/<pid>/stat (dockyard's daemon; dockerd + containerd) are printed too, and the probes done
(exec_die events), so the CPU per probe compares engines that kept up differently.
The engines are measured one after the other (never at once), each with its containers only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine import DOCKER, NET, BenchDaemon, Engine  # noqa: E402
from tests import oracle as oracle_dockerd  # noqa: E402
from tests.conftest import teardown_host_state  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
WARMUP = 5.0


class CpuGroup:
    """A CPU accounting cgroup of the bench's own (v2 `cpu.stat`, else v1 `cpuacct`)."""

    def __init__(self, name: str) -> None:
        unified = Path("/sys/fs/cgroup")
        self.v2 = (unified / "cgroup.controllers").exists()
        self.path = (unified if self.v2 else unified / "cpuacct") / name
        self.path.mkdir(exist_ok=True)

    def enter(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def seconds(self) -> float:
        if self.v2:
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.2)


def own_cgroup() -> Path:
    """The cgroup the bench process started in (to return to), in the same hierarchy."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, ctrl, path = line.split(":", 2)
        if (Path("/sys/fs/cgroup/cgroup.controllers").exists() and hid == "0") or (
            "cpuacct" in ctrl.split(",")
        ):
            base = Path("/sys/fs/cgroup")
            return base / path.lstrip("/") if hid == "0" else base / "cpuacct" / path.lstrip("/")
    raise RuntimeError("no cpuacct hierarchy")


def proc_cpu(pid: int) -> float:
    """user+sys of a process and of its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def pids_named(name: bytes) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                if (p / "comm").read_bytes().strip() == name:
                    out.append(int(p.name))
    return out


def window(
    e: Engine, n: int, seconds: float, group: CpuGroup, daemon_pids: list[int]
) -> dict[str, float]:
    ids = []
    try:
        for _ in range(n):
            ids.append(e.docker("run", "-d", *NET, "--health-cmd", "true", "--health-interval", "1s",
                                "busybox", "sleep", "600").strip())  # fmt: skip
        time.sleep(WARMUP)
        # Probes are counted live: the daemons' replay (`--since`) keeps only the last 256
        # events, fewer than a window's probes.
        with tempfile.TemporaryFile() as seen:
            watcher = subprocess.Popen(
                [DOCKER, "events", "--filter", "event=exec_die", "--format", "{{.TimeNano}}"],
                env=e.env, stdout=seen, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                time.sleep(0.5)  # subscribed before the window opens
                cg0 = group.seconds()
                d0 = sum(proc_cpu(p) for p in daemon_pids)
                t0 = time.time_ns()
                time.sleep(seconds)
                cg1 = group.seconds()
                d1 = sum(proc_cpu(p) for p in daemon_pids)
                t1 = time.time_ns()
                time.sleep(0.5)  # the window's last events delivered
            finally:
                watcher.terminate()
                watcher.wait(timeout=10)
            seen.seek(0)
            probes = sum(1 for t in seen.read().split() if t0 <= int(t) <= t1)
        healthy = len(e.docker("ps", "-q", "--filter", "health=healthy").split())
        return {"engine CPU s (cgroup)": cg1 - cg0, "daemon CPU s (/proc stat)": d1 - d0,
                "probes": probes, "engine CPU ms/probe": 1000 * (cg1 - cg0) / max(probes, 1),
                "healthy at end": healthy}  # fmt: skip
    finally:
        for i in range(0, len(ids), 50):
            with contextlib.suppress(RuntimeError):
                e.docker("rm", "-f", *ids[i : i + 50])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-health-", dir="/var/tmp"))
    home = own_cgroup()
    me = os.getpid()
    groups = {"dockyard": CpuGroup(f"dockyard-bench-health-dy-{me}"),
              "dockerd": CpuGroup(f"dockyard-bench-health-dd-{me}")}  # fmt: skip
    d = BenchDaemon(tmp, tmp / "data", tmp / "exec", tmp / "dy.sock", "dockyard-bench-health")
    stack = contextlib.ExitStack()
    results: dict[str, dict[str, float]] = {}
    try:
        groups["dockyard"].enter(me)
        try:
            d.start()
        finally:
            (home / "cgroup.procs").write_text(str(me))
        d.api("POST", "/dockyard/images/bootstrap")
        assert d.proc is not None
        dy = Engine("dockyard", d.env())
        results["dockyard"] = window(dy, args.containers, args.seconds, groups["dockyard"],
                                     [d.proc.pid])  # fmt: skip
        if oracle_dockerd.available():
            groups["dockerd"].enter(me)
            try:
                sock = stack.enter_context(oracle_dockerd.private_dockerd(tmp / "oracle"))
            finally:
                (home / "cgroup.procs").write_text(str(me))
            dd = Engine("dockerd", dict(os.environ, DOCKER_HOST=f"unix://{sock}"))
            dockerd_pid = int((tmp / "oracle" / "d.pid").read_text())
            containerd = [p for p in pids_named(b"containerd")
                          if str(tmp / "oracle") in Path(f"/proc/{p}/cmdline").read_text()]  # fmt: skip
            results["dockerd"] = window(dd, args.containers, args.seconds, groups["dockerd"],
                                        [dockerd_pid, *containerd])  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            d.api("POST", "/containers/prune")
        d.stop()
        teardown_host_state(d)
        stack.close()
        for g in groups.values():
            g.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{args.containers} containers, healthcheck `true` every 1 s, {args.seconds:.0f} s window"
    )
    keys = list(results["dockyard"])
    print(f"{'':32}{'dockyard':>12}{'dockerd':>12}{'ratio':>8}")
    for k in keys:
        mine = results["dockyard"][k]
        theirs = results.get("dockerd", {}).get(k)
        ratio = f"{mine / theirs:.2f}" if theirs else "-"
        print(
            f"{k:32}{mine:12.2f}{(theirs if theirs is not None else float('nan')):12.2f}{ratio:>8}"
        )


if __name__ == "__main__":
    main()
