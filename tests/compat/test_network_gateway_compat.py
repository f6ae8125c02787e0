"""The default bridge and prune filters through the official docker CLI and docker-py (N5)."""

from __future__ import annotations

import random

import docker as dockerpy
import pytest

from tests.compat.cli import docker
from tests.conftest import Daemon
from tests.integration.network_helpers import rm
from tests.integration.test_network_user import make_net, net_rm

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def test_docker_cli_connect_bridge(daemon: Daemon) -> None:
    """N5: `docker network connect bridge` / `disconnect bridge` on a user-network container;
    `docker inspect` shows both networks, then one."""
    name = f"cb{random.randint(0, 1 << 30)}"
    make_net(daemon, name)
    cid = ""
    try:
        r = docker(daemon, "run", "-d", "--network", name, "busybox", "sleep", "300")
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip()
        assert docker(daemon, "network", "connect", "bridge", cid).returncode == 0
        fmt = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"
        r = docker(daemon, "inspect", "-f", fmt, cid)
        assert sorted(r.stdout.split()) == sorted(["bridge", name])
        r = docker(daemon, "network", "connect", "bridge", cid)
        assert r.returncode != 0 and "already exists in network bridge" in r.stderr
        assert docker(daemon, "network", "disconnect", "bridge", cid).returncode == 0
        assert docker(daemon, "inspect", "-f", fmt, cid).stdout.split() == [name]
    finally:
        if cid:
            rm(daemon, cid)
        net_rm(daemon, name)


def test_prune_filters_cli_and_docker_py(daemon: Daemon) -> None:
    """N5: `docker network prune --filter until=` and docker-py's networks.prune(filters)."""
    tag = random.randint(0, 1 << 30)
    name = f"pf{tag}"
    make_net(daemon, name, "--label", f"pf={tag}", subnet=False)
    try:
        r = docker(daemon, "network", "prune", "-f", "--filter", "until=10m", "--filter",
                   f"label=pf={tag}")  # fmt: skip
        assert r.returncode == 0 and name not in r.stdout, r.stdout
        r = docker(daemon, "network", "prune", "-f", "--filter", "until=bogus")
        assert 'failed to parse value as time or duration: "bogus"' in r.stderr
        client = dockerpy.DockerClient(base_url=daemon.env()["DOCKER_HOST"])
        out = client.networks.prune(filters={"until": "0s", "label": [f"pf={tag}"]})
        assert out["NetworksDeleted"] == [name]
    finally:
        net_rm(daemon, name)
