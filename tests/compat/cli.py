"""The official docker CLI pointed at a test daemon: one helper for every compat test."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import Daemon

DOCKER = shutil.which("docker")


def docker(
    d: Daemon,
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS` against `d` (with `env` added to its environment); the test is skipped
    on a machine without the CLI."""
    if DOCKER is None:
        pytest.skip("no docker CLI installed")
    return subprocess.run(
        [DOCKER, *args],
        env={**d.env(), **(env or {})},
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


def ok(r: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout; it must have succeeded."""
    assert r.returncode == 0, (r.args, r.stderr)
    return r.stdout
