"""docker-compose v1 against dockyard (N5): a three-service project with a custom network,
aliases and a named volume; services resolve each other by name; `down -v` removes it all.
Uses Debian's docker-compose 1.29.2 (installed by scripts/install; COMPOSE_V1 names another)."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

COMPOSE = os.environ.get("COMPOSE_V1", "/usr/bin/docker-compose")

PROJECT = """version: "2.4"
services:
  web:
    image: busybox
    command: sh -c "echo hi > /index.html; exec httpd -f -p 80 -h /"
    networks:
      back:
        aliases: [www]
  app:
    image: busybox
    command: sleep 300
    networks: [back]
  db:
    image: busybox
    command: sleep 300
    volumes: ["data:/data"]
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
"""


def compose(d: Daemon, project: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMPOSE, "-p", project, *args], cwd=cwd, env=d.env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_compose_project(daemon: Daemon, tmp_path: Path) -> None:
    assert Path(COMPOSE).exists(), f"{COMPOSE} is missing: scripts/install installs docker-compose"
    (tmp_path / "docker-compose.yml").write_text(PROJECT)
    project = f"cp{random.randint(0, 1 << 30)}"
    try:
        r = compose(daemon, project, tmp_path, "up", "-d")
        assert r.returncode == 0, r.stderr
        for name in ("web", "www", "db"):
            r = compose(daemon, project, tmp_path, "exec", "-T", "app", "ping", "-c1", "-W2", name)
            assert r.returncode == 0, (name, r.stdout, r.stderr)
        r = compose(daemon, project, tmp_path, "exec", "-T", "app", "wget", "-qO-", "http://www/")
        assert r.stdout.strip() == "hi", r.stderr
    finally:
        r = compose(daemon, project, tmp_path, "down", "-v")
    assert r.returncode == 0, r.stderr
    status, nets = daemon.api("GET", "/networks")
    assert not [n for n in nets if n["Name"].startswith(project)]
    status, vols = daemon.api("GET", "/volumes")
    assert not [v for v in vols.get("Volumes") or [] if v["Name"].startswith(project)]
