"""Bridge driver options through the official docker CLI (N5, issue #5 item 1), and the same
scenario against a real dockerd 20.10 (the oracle): interface names across connect/disconnect,
the /etc/hosts line a connect adds, and an impossible MTU's error."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

P = "com.docker.network."
Docker = Callable[..., subprocess.CompletedProcess[str]]


def _client(env: dict[str, str]) -> Docker:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    return run


def _create(docker: Docker, name: str, *args: str) -> None:
    for _ in range(20):
        x, y = random.randint(100, 250), random.randint(0, 255)
        r = docker("network", "create", f"--subnet=10.{x}.{y}.0/24", *args, name)
        if r.returncode == 0:
            return
        assert "overlap" in r.stderr, r.stderr
    raise AssertionError("no free subnet")


def test_docker_cli_network_create_options(daemon: Daemon) -> None:
    """N5: `docker network create -o` keeps exactly the given Options in inspect, and they
    apply: foo0 with MTU 9000 inside the container."""
    docker = _client(daemon.env())
    name = f"cliopt{random.randint(0, 1 << 30)}"
    opts = {P + "driver.mtu": "9000", P + "container_iface_prefix": "foo", "foo.bar": "1"}
    _create(docker, name, *(a for k, v in opts.items() for a in ("-o", f"{k}={v}")))
    try:
        r = docker("network", "inspect", "-f", "{{json .Options}}", name)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == opts
        r = docker("run", "--rm", "--network", name, "busybox", "sh", "-c",
                   "ls /sys/class/net; cat /sys/class/net/foo0/mtu")  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["foo0", "lo", "9000"]
    finally:
        docker("network", "rm", name)


def _scenario(docker: Docker) -> list[str]:
    """Interfaces after connect/disconnect/connect and a restart, hostname lines in
    /etc/hosts, and the impossible-MTU error with its veth name blanked."""
    tag = f"{random.randint(0, 1 << 30)}"
    nets = [f"o{tag}foo", f"o{tag}n1", f"o{tag}n2", f"o{tag}bad"]
    seen: list[str] = []
    ctr = f"o{tag}c"
    try:
        _create(docker, nets[0], "-o", P + "container_iface_prefix=foo")
        _create(docker, nets[1])
        _create(docker, nets[2])
        _create(docker, nets[3], "-o", P + "driver.mtu=60")
        r = docker("run", "-d", "--name", ctr, "--hostname", "box", "--network", nets[0],
                   "busybox", "sleep", "600")  # fmt: skip
        assert r.returncode == 0, r.stderr

        def look(what: str) -> None:
            out = docker("exec", ctr, "sh", "-c", "ls /sys/class/net | tr '\\n' ' '; "
                         "grep -c 'box$' /etc/hosts").stdout  # fmt: skip
            seen.append(f"{what}: {' '.join(out.split())}")

        look("start")
        for verb, net in (("connect", 1), ("disconnect", 1), ("connect", 2)):
            r = docker("network", verb, nets[net], ctr)
            assert r.returncode == 0, r.stderr
            look(f"{verb} n{net}")
        assert docker("restart", "-t", "0", ctr).returncode == 0
        look("restart")
        r = docker("network", "connect", nets[3], ctr)
        seen.append("connect bad: " + re.sub(r"(veth|dyv)[0-9a-f]+", "VETH",
                    r.stderr.strip().replace(nets[3], "NET").replace(ctr, "CTR")))  # fmt: skip
        look("after failed connect")
        for verb in ("disconnect", "connect"):
            r = docker("network", verb, nets[2], ctr)
            assert r.returncode == 0, r.stderr
        look("reconnect n2")
    finally:
        docker("rm", "-f", ctr)
        for n in nets:
            docker("network", "rm", n)
    return seen


def test_same_names_hosts_and_mtu_error_as_dockerd(daemon: Daemon, oracle: str) -> None:
    """N5 differential: ethN counts up after a disconnect, connect adds a hosts line, a
    restart starts again; a failed connect's wording and what it leaves. (dockerd 20.10 keeps
    the failed network in the container's config, so its next restart fails: not copied.)"""
    ours = _scenario(_client(daemon.env()))
    theirs = _scenario(_client({**os.environ, "DOCKER_HOST": f"unix://{oracle}"}))
    print("dockyard:", *ours, "dockerd:", *theirs, sep="\n  ")
    assert ours == theirs
