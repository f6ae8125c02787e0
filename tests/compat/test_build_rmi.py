"""S1 with Docker's cleanup rule: removing a built image removes its untagged intermediate images,
unless --no-prune; a tagged base image always stays."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.compat.cli import docker
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def _all_ids(d: Daemon) -> set[str]:
    return set(docker(d, "images", "-aq", "--no-trunc").stdout.split())


def _build(d: Daemon, ctx: Path, tag: str) -> None:
    (ctx / "Dockerfile").write_text(
        f"FROM busybox\nRUN echo {tag} > /a\nRUN echo two > /b\nENV T={tag}\n"
    )
    env = {**d.env(), "DOCKER_BUILDKIT": "0"}
    r = subprocess.run(["docker", "build", "-q", "-t", tag, str(ctx)], env=env,
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("noprune", [False, True])
def test_rmi_prunes_untagged_parents(daemon: Daemon, tmp_path: Path, noprune: bool) -> None:
    before = _all_ids(daemon)
    tag = f"rmi-prune-{int(noprune)}:1"
    _build(daemon, tmp_path, tag)
    made = _all_ids(daemon) - before
    assert len(made) == 3  # two RUN layers and the ENV step
    args = ["rmi", *(["--no-prune"] if noprune else []), tag]
    r = docker(daemon, *args)
    assert r.returncode == 0, r.stderr
    left = _all_ids(daemon) - before
    assert len(left) == (2 if noprune else 0)
    assert docker(daemon, "image", "inspect", "busybox").returncode == 0
    if left:
        docker(daemon, "rmi", *left)
