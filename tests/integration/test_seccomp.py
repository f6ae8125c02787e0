"""E4 on the real kernel: every container runs under the built-in seccomp filter unless it is
privileged or asks for `seccomp=unconfined`; a Docker-format profile is applied; a bad profile is
refused before anything is created."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration

# unshare(CLONE_NEWUSER) is allowed to any unprivileged process by the kernel, so only a
# seccomp filter can refuse it: the probe prints 0 or the errno.
PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
int main(void) { printf("%d\n", unshare(CLONE_NEWUSER) == 0 ? 0 : errno); return 0; }
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the probe")
    d = tmp_path_factory.mktemp("probe")
    (d / "probe.c").write_text(PROBE_C)
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(d / "probe"), str(d / "probe.c")], check=True
    )
    return d


def _run(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return daemon.dockyard("run", "--rm", "--network", "none", *args)


def test_default_filter_and_its_exceptions(daemon: Daemon, probe: Path) -> None:
    status = _run(daemon, "busybox", "grep", "^Seccomp:", "/proc/self/status")
    assert status.returncode == 0 and status.stdout.split() == ["Seccomp:", "2"], status
    bind = f"{probe}:/probe:ro"
    denied = _run(daemon, "-v", bind, "busybox", "/probe/probe")
    assert denied.stdout.strip() == "1", denied  # EPERM from the filter
    for extra in (["--security-opt", "seccomp=unconfined"], ["--privileged"]):
        free = _run(daemon, *extra, "-v", bind, "busybox", "/probe/probe")
        assert free.stdout.strip() == "0", (extra, free)
        st = _run(daemon, *extra, "busybox", "grep", "^Seccomp:", "/proc/self/status")
        assert st.stdout.split() == ["Seccomp:", "0"], (extra, st)


@pytest.mark.compat  # drives the docker CLI: run with each CLI (scripts/test)
def test_docker_cli_sends_a_profile_file(daemon: Daemon, tmp_path: Path) -> None:
    """The docker CLI reads the file and sends its JSON; mkdir is refused with the errno given."""
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--security-opt", f"seccomp={path}",
         "busybox", "mkdir", "/x"],
        env=daemon.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1 and "Operation not permitted" in out.stderr, out
    info = subprocess.run(
        ["docker", "info", "-f", "{{json .SecurityOptions}}"],
        env=daemon.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "name=seccomp" in info.stdout, info


def test_bad_security_options_create_nothing(daemon: Daemon) -> None:
    _, before = daemon.api("GET", "/containers/json?all=1")
    for opts, status, message in (
        (["seccomp={bad"], 400, "Decoding seccomp profile failed"),
        (["foo"], 500, 'invalid --security-opt 1: "foo"'),
    ):
        code, body = daemon.api(
            "POST",
            "/containers/create",
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"SecurityOpt": opts}},
        )
        assert code == status and message in body["message"], (code, body)
    _, after = daemon.api("GET", "/containers/json?all=1")
    assert len(after) == len(before)
