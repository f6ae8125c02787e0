"""#15 E6 through the official docker CLI (20.10 and 28) and docker-py: `docker stats` shows real
numbers from dockyard's stats: a CPU burner above 50 %, a container holding 64 MiB at or above
it with its --memory limit, its PIDS; NET I/O grows with traffic to a container on a
test-made network; --all adds stopped containers, --format picks columns; the live form
redraws every half second; `docker stats --no-stream` over several containers takes well under
dockerd's second per sample; docker-py's `stats(stream=False)` and its decoded stream work."""

from __future__ import annotations

import random
import re
import subprocess
import time
from collections.abc import Iterator

import docker as dockerpy
import pytest

from tests.compat.cli import DOCKER, docker, ok
from tests.conftest import Daemon
from tests.integration.network_helpers import http_get, rm

pytestmark = [pytest.mark.compat, pytest.mark.integration]

BURN = "while :; do :; done & while :; do :; done"
HOLD = "dd if=/dev/zero of=/dev/shm/hold bs=1M count=64 2>/dev/null; sleep 300 & sleep 300 & wait"
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}


def size(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([A-Za-z]+)", text.strip())
    assert m, text
    return float(m.group(1)) * UNITS[m.group(2)]


def _run(d: Daemon, *args: str) -> str:
    return ok(docker(d, "run", "-d", *args)).strip()


@pytest.fixture
def pair(daemon: Daemon) -> Iterator[tuple[str, str]]:
    burner = _run(daemon, "--network", "none", "busybox", "sh", "-c", BURN)
    holder = _run(daemon, "--network", "none", "-m", "256m", "--shm-size", "128m", "busybox",
                  "sh", "-c", HOLD)  # fmt: skip
    yield burner, holder
    rm(daemon, burner, holder)


def _columns(d: Daemon, *refs: str) -> dict[str, list[str]]:
    fmt = "{{.Container}}|{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.PIDs}}"
    out = ok(docker(d, "stats", "--no-stream", "--format", fmt, *refs))
    return {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines()}


def test_docker_stats_no_stream_shows_real_numbers(daemon: Daemon, pair: tuple[str, str]) -> None:
    burner, holder = pair
    deadline = time.monotonic() + 20
    while True:  # until the holder's 64 MiB are written
        cols = _columns(daemon, burner, holder)
        used, limit = (size(x) for x in cols[holder][2].split(" / "))
        if (used >= 64 * (1 << 20) and cols[holder][4] == "3") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert float(cols[burner][1].rstrip("%")) > 50, cols
    assert used >= 64 * (1 << 20) and limit == 256 * (1 << 20), cols[holder]
    assert 25.0 <= float(cols[holder][3].rstrip("%")) < 50.0  # 64+ MiB of 256 MiB
    assert cols[holder][4] == "3" and cols[burner][4] == "2"
    table = ok(docker(daemon, "stats", "--no-stream", burner)).splitlines()
    assert re.split(r"\s{2,}", table[0]) == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT",
                                             "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]  # fmt: skip
    assert table[1].startswith(burner[:12])


def test_docker_stats_no_stream_is_quick_over_many(daemon: Daemon) -> None:
    """dockerd answers each stream=false after its collector's next tick (the CLI then needs
    more than a second); dockyard answers with a short gap or a recent sample."""
    cids = [_run(daemon, "--network", "none", "busybox", "sleep", "300") for _ in range(5)]
    try:
        t0 = time.monotonic()
        out = ok(docker(daemon, "stats", "--no-stream"))
        elapsed = time.monotonic() - t0
        assert all(cid[:12] in out for cid in cids)
        assert elapsed < 1.8, elapsed  # dockerd: more than 2 s
    finally:
        rm(daemon, *cids)


def test_docker_stats_all_and_net_io_after_traffic(daemon: Daemon) -> None:
    name = f"st{random.randint(0, 1 << 30)}"
    for _ in range(10):
        x, y = random.randint(100, 250), random.randint(0, 255)
        r = docker(daemon, "network", "create", "--subnet", f"10.{x}.{y}.0/24", name)
        if r.returncode == 0:
            break
    assert r.returncode == 0, r.stderr
    cids: list[str] = []
    try:
        cids.append(_run(daemon, "--network", name, "--ip", f"10.{x}.{y}.7", "busybox", "sh",
                         "-c", "dd if=/dev/zero of=/index.html bs=100000 count=1 2>/dev/null;"
                         " exec httpd -f -p 80 -h /"))  # fmt: skip
        cids.append(ok(docker(daemon, "create", "busybox", "true")).strip())

        def net_io() -> tuple[float, float]:
            out = ok(docker(daemon, "stats", "--no-stream", "--format", "{{.NetIO}}", cids[0]))
            rx, tx = out.strip().split(" / ")
            return size(rx), size(tx)

        before = net_io()
        for _ in range(3):
            assert len(http_get(f"10.{x}.{y}.7", 80)) == 100_000
        after = net_io()
        assert after[1] - before[1] >= 300_000 and after[0] > before[0], (before, after)
        shown = ok(docker(daemon, "stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}}"))
        assert cids[1][:12] not in shown and cids[0][:12] in shown
        shown = ok(docker(daemon, "stats", "--no-stream", "--all", "--format",
                          "{{.ID}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}"))  # fmt: skip
        assert f"{cids[1][:12]} 0.00% 0B / 0B 0" in shown.splitlines()
    finally:
        rm(daemon, *cids)
        docker(daemon, "network", "rm", name)


def test_docker_stats_live_redraws(daemon: Daemon) -> None:
    cid = _run(daemon, "--network", "none", "busybox", "sh", "-c", BURN)
    try:
        assert DOCKER is not None
        p = subprocess.Popen([DOCKER, "stats", "--format", "{{.ID}} {{.CPUPerc}}", cid],
                             env=daemon.env(), stdout=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(3.2)
        p.kill()  # CLI 28 cancels its streams on SIGTERM but keeps drawing
        out, _ = p.communicate(timeout=10)
        # each CLI's own clearing: 20.10 clears the screen, 28 homes the cursor
        frames = [f for f in re.split(r"\x1b\[2J\x1b\[H|\x1b\[H", out) if cid[:12] in f]
        assert len(frames) >= 4, out
        values = [float(f.split()[1].rstrip("%")) for f in frames if "%" in f]
        assert max(values[2:]) > 50, values
    finally:
        rm(daemon, cid)


def test_docker_py_stats(daemon: Daemon) -> None:
    client = dockerpy.DockerClient(base_url=daemon.host, version="auto")
    c = client.containers.run("busybox", ["sh", "-c", BURN], detach=True, network_mode="none")
    try:
        time.sleep(0.5)  # both loops spinning
        s = c.stats(stream=False)
        assert s["id"] == c.id and s["name"] == f"/{c.name}"
        delta = (
            s["cpu_stats"]["cpu_usage"]["total_usage"]
            - (s["precpu_stats"]["cpu_usage"]["total_usage"])
        )
        system = s["cpu_stats"]["system_cpu_usage"] - s["precpu_stats"]["system_cpu_usage"]
        assert delta / system * s["cpu_stats"]["online_cpus"] * 100 > 50
        frames = c.stats(decode=True)
        first, second = next(frames), next(frames)
        assert second["preread"] == first["read"]
        frames.close()
    finally:
        c.remove(force=True)
        client.close()
