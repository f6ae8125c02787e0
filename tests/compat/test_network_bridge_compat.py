"""The official docker CLI against dockyard: `--network container:NAME` takes NAME's files and
hostname (N4/N6), link variables of port ranges (N2)."""

from __future__ import annotations

import pytest

from tests.compat.cli import docker
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def test_docker_cli_container_mode_and_link_ranges(daemon: Daemon) -> None:
    """N4/N6: the joiner prints NAME's hostname and /etc/hosts; N2: `--expose 8000-8002` on the
    target gives the linking container Docker's _START/_END variables."""
    try:
        r = docker(daemon, "run", "-d", "--name", "cmc-owner", "--hostname", "ownerhost",
                   "--expose", "8000-8002", "busybox", "sleep", "60")  # fmt: skip
        assert r.returncode == 0, r.stderr
        ip = docker(
            daemon, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "cmc-owner"
        ).stdout.strip()
        r = docker(daemon, "run", "--rm", "--network", "container:cmc-owner", "busybox",
                   "sh", "-c", "hostname; grep ownerhost /etc/hosts")  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["ownerhost", f"{ip}\townerhost"]
        r = docker(daemon, "run", "--rm", "--link", "cmc-owner:db", "busybox", "env")
        env = set(r.stdout.splitlines())
        assert {
            f"DB_PORT=tcp://{ip}:8000",
            f"DB_PORT_8000_TCP_START=tcp://{ip}:8000",
            "DB_PORT_8000_TCP_PORT_START=8000",
            f"DB_PORT_8000_TCP_END=tcp://{ip}:8002",
            "DB_PORT_8000_TCP_PORT_END=8002",
            f"DB_PORT_8002_TCP_ADDR={ip}",
        } <= env, r.stdout
    finally:
        docker(daemon, "rm", "-f", "cmc-owner")
