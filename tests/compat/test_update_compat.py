"""#15 (E4): `docker update` through the official docker CLI and docker-py, and against the oracle
dockerd: the same commands on the same kinds of containers print the same lines, warnings and
errors (modulo ids and the cgroup path) with the same exit codes on dockyard and on dockerd; the
`dockyard update` CLI prints what the docker CLI prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.compat.cli import docker, ok
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

MiB = 1024 * 1024

# (container, update flags): every error dockerd has for update, then the warnings and successes
CASES: list[tuple[str, list[str]]] = [
    ("upd-a", ["--memory", "64m"]),  # 409: above the memoryswap already set (none)
    ("upd-a", ["--memory", "64m", "--memory-swap", "128m"]),
    ("upd-a", ["--memory", "100m", "--memory-swap", "50m"]),  # 400
    ("upd-a", ["--memory-swap", "32m"]),  # 500: runc, memsw below memory
    ("upd-a", ["--memory", "200m"]),  # 409
    ("upd-a", ["--memory", "1k"]),  # 400 minimum
    ("upd-a", ["--kernel-memory", "50m"]),  # warning: deprecated
    ("upd-a", ["--cpus", "0.5"]),
    ("upd-a", ["--cpu-quota", "50000"]),  # 409: NanoCpus set
    ("upd-a", ["--cpus", "64"]),  # 400 range
    ("upd-a", ["--cpu-period", "500"]),  # 400
    ("upd-a", ["--cpuset-cpus", "99"]),  # 400 not available
    ("upd-a", ["--cpuset-cpus", "x"]),  # 400 format
    ("upd-a", ["--blkio-weight", "300"]),  # the host's answer: applied, or discarded + warning
    ("upd-a", ["--blkio-weight", "5"]),
    ("upd-a", ["--memory-reservation", "1m"]),  # 400
    ("upd-a", ["--cpu-shares", "512", "--pids-limit", "50", "--restart", "on-failure:3"]),
    ("upd-a", ["--restart", "always"]),
    ("upd-b", ["--memory-swap", "100m"]),  # 500: swap without memory
    ("upd-rm", ["--restart", "always"]),  # 409: AutoRemove
    ("upd-rm", ["--restart", "no"]),
    ("upd-nosuch", ["--memory", "64m"]),  # 404
    ("upd-a", []),  # the CLI's own refusal
]


def _docker_at(sock: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)


def _normalize(text: str) -> str:
    text = re.sub(r"/sys/fs/cgroup/\S+/[0-9a-f]{64}/", "<CGROUP>/", text)
    return re.sub(r"\b[0-9a-f]{64}\b", "<ID>", text)


def _play(sock: str) -> list[tuple[int, str, str]]:
    made = [_docker_at(sock, "run", "-d", "--name", "upd-a", "busybox", "sleep", "1d"),
            _docker_at(sock, "run", "-d", "--name", "upd-b", "busybox", "sleep", "1d"),
            _docker_at(sock, "run", "-d", "--rm", "--name", "upd-rm", "busybox", "sleep", "1d")]  # fmt: skip
    try:
        for r in made:
            assert r.returncode == 0, r.stderr
        out = []
        for name, flags in CASES:
            r = _docker_at(sock, "update", *flags, name)
            out.append((r.returncode, _normalize(r.stdout), _normalize(r.stderr)))
        shown = _docker_at(sock, "inspect", "-f", "{{json .HostConfig.RestartPolicy}} "
                           "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} "
                           "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} "
                           "{{.HostConfig.PidsLimit}} {{.HostConfig.KernelMemory}}", "upd-a", "upd-b")  # fmt: skip
        out.append((shown.returncode, shown.stdout, shown.stderr))
        return out
    finally:
        _docker_at(sock, "rm", "-f", "upd-a", "upd-b", "upd-rm")


@pytest.fixture(scope="module")
def oracle_answers(oracle: str) -> list[tuple[int, str, str]]:
    return _play(oracle)


def test_update_answers_as_dockerd(
    daemon: Daemon, oracle_answers: list[tuple[int, str, str]]
) -> None:
    ours = _play(str(daemon.socket))
    for (name, flags), theirs, mine in zip(CASES, oracle_answers, ours, strict=False):
        assert mine == theirs, (name, flags)
    assert ours[-1] == oracle_answers[-1]
    assert len(ours) == len(oracle_answers) == len(CASES) + 1


@pytest.fixture
def pair(daemon: Daemon) -> Iterator[tuple[str, str]]:
    names = ("upd-cli-1", "upd-cli-2")
    for n in names:
        ok(docker(daemon, "run", "-d", "--name", n, "busybox", "sleep", "1d"))
    yield names
    docker(daemon, "rm", "-f", *names)


def test_dockyard_update_prints_what_docker_prints(daemon: Daemon, pair: tuple[str, str]) -> None:
    """Each name on success, then the warnings, then every failure; exit 1 on any failure."""
    argv = ["update", "--kernel-memory", "50m", "--memory", "64m", "--memory-swap", "-1",
            *pair, "upd-cli-missing"]  # fmt: skip
    theirs = docker(daemon, *argv)
    ours = subprocess.run([sys.executable, "-m", "dockyard", *argv], env=daemon.env(),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert theirs.returncode == ours.returncode == 1
    assert theirs.stdout == ours.stdout
    assert theirs.stdout.startswith(f"{pair[0]}\n{pair[1]}\nSpecifying a kernel memory limit")
    assert ours.stderr.strip().endswith("No such container: upd-cli-missing")
    shown = ok(
        docker(daemon, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", *pair)
    )
    assert shown == f"{64 * MiB} -1\n" * 2


def test_docker_py_update_container(daemon: Daemon, pair: tuple[str, str]) -> None:
    import docker as dockerpy

    client = dockerpy.DockerClient(base_url=daemon.host)
    try:
        c = client.containers.get(pair[0])
        result = c.update(mem_limit="80m", memswap_limit="160m", cpu_shares=256,
                          restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})  # fmt: skip
        assert result == {"Warnings": None}
        c.reload()
        hc = c.attrs["HostConfig"]
        assert (hc["Memory"], hc["MemorySwap"], hc["CpuShares"]) == (80 * MiB, 160 * MiB, 256)
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        with pytest.raises(dockerpy.errors.APIError) as exc:
            c.update(mem_limit="200m")
        assert exc.value.status_code == 409
        assert "Memory limit should be smaller than already set memoryswap limit" in str(exc.value)
        with pytest.raises(dockerpy.errors.NotFound):
            client.api.update_container("upd-py-missing", mem_limit="64m")
    finally:
        client.close()
