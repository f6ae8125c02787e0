"""`docker build` (legacy builder, DOCKER_BUILDKIT=0), docker-py's images.build and our own
`dockyard build` against dockyard's socket (MISSION S1, E1, E2); and a differential check of the
same builds against a real dockerd (the oracle) when one can be started."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

DOCKER = shutil.which("docker")
DOCKERFILE = (
    "FROM busybox\nARG WHO=you\nENV GREETING=hello\nWORKDIR /app\nCOPY f ./\n"
    'RUN echo "$GREETING $WHO" > msg && cat f\nCMD ["cat", "/app/msg"]\n'
)


def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    if DOCKER is None:
        pytest.skip("no docker CLI installed")
    env = {**env, "DOCKER_BUILDKIT": "0"}
    return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "f").write_text("file-content\n")
    (tmp_path / ".dockerignore").write_text("*.tmp\n")
    (tmp_path / "junk.tmp").write_text("x")
    return tmp_path


def normalize(out: str) -> str:
    """Ids, sizes and the deprecation banner vary between engines; the rest must not."""
    out = re.sub(r"\b[0-9a-f]{12}\b", "<id>", out)
    # dockerd 20.10 commits metadata steps through a container it creates and removes at once;
    # dockyard writes those images directly (no container): the pair of lines is not compared.
    out = out.replace(" ---> Running in <id>\nRemoving intermediate container <id>\n", "")
    out = re.sub(r"daemon\s+\S+", "daemon <size>", out)
    return out


def test_docker_cli_build(daemon: Daemon, ctx: Path) -> None:
    """S1/E1: docker build -t, --build-arg, cache on rebuild, exit code of a failing RUN."""
    r = docker(daemon.env(), "build", "-t", "dy-cli-build", "--build-arg", "WHO=docker", str(ctx))
    assert r.returncode == 0, r.stderr
    assert "Step 6/7 : RUN" in r.stdout and "file-content\n" in r.stdout
    assert "Successfully tagged dy-cli-build:latest" in r.stdout
    run = docker(daemon.env(), "run", "--rm", "dy-cli-build")
    assert run.stdout == "hello docker\n", run.stderr
    again = docker(daemon.env(), "build", "-q", "--build-arg", "WHO=docker", str(ctx))
    assert again.stdout.strip().startswith("sha256:")
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 4\n")
    failed = docker(daemon.env(), "build", str(ctx))
    assert failed.returncode == 4
    assert "The command '/bin/sh -c exit 4' returned a non-zero code: 4" in failed.stderr


def test_docker_py_build(daemon: Daemon, ctx: Path) -> None:
    """S1/E1: docker-py's images.build streams logs and returns the image."""
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=daemon.host, version="1.44")
    try:
        image, logs = client.images.build(path=str(ctx), tag="dy-py-build", buildargs={"WHO": "py"})
        assert "dy-py-build:latest" in image.tags
        assert any("Successfully built" in chunk.get("stream", "") for chunk in logs)
        out = client.containers.run("dy-py-build", remove=True)
        assert out == b"hello py\n"
        fileobj = io.BytesIO(b"FROM busybox\nLABEL via=fileobj\n")
        image, _ = client.images.build(fileobj=fileobj, tag="dy-py-fileobj")
        assert image.labels == {"via": "fileobj"}
        with pytest.raises(docker_mod.errors.BuildError, match="returned a non-zero code: 2"):
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 2\n"))
    finally:
        client.close()


def test_dockyard_cli_build(daemon: Daemon, ctx: Path) -> None:
    """E2: our CLI prints what docker build prints."""
    r = daemon.dockyard("build", "-t", "dy-own-build", "--build-arg", "WHO=yard", str(ctx))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Sending build context to Docker daemon  ")
    assert "Successfully tagged dy-own-build:latest" in r.stdout
    assert daemon.dockyard("run", "--rm", "dy-own-build").stdout == "hello yard\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 5\n")
    failed = daemon.dockyard("build", str(ctx))
    assert failed.returncode == 5
    assert failed.stderr.strip() == "The command '/bin/sh -c exit 5' returned a non-zero code: 5"


@pytest.mark.parametrize(
    "dockerfile",
    [
        DOCKERFILE,
        "FROM busybox\nCOPY nope /\n",
        "FROM busybox\nCOPY ../f /\n",
        "FROM busybox\nFOO bar\n",
        "FROM busybox\nSHELL sh -c\n",
        "FROM busybox AS a\nRUN echo one > /one\nFROM busybox\nCOPY --from=a /one /\nRUN cat /one\n",
    ],
)
def test_differential_build_output(daemon: Daemon, oracle: str, ctx: Path, dockerfile: str) -> None:
    """S1: the same build through the docker CLI prints the same lines on dockerd and dockyard
    (ids and sizes aside), and exits with the same code."""
    (ctx / "Dockerfile").write_text(dockerfile)
    ours = docker(daemon.env(), "build", "--no-cache", str(ctx))
    theirs = docker(
        {**os.environ, "DOCKER_HOST": f"unix://{oracle}"}, "build", "--no-cache", str(ctx)
    )
    assert ours.returncode == theirs.returncode, (ours.stderr, theirs.stderr)
    assert normalize(ours.stdout) == normalize(theirs.stdout)
    err = [ln for ln in ours.stderr.splitlines() if ln.startswith(("Error", "COPY", "The"))]
    their_err = [ln for ln in theirs.stderr.splitlines() if ln.startswith(("Error", "COPY", "The"))]
    assert err == their_err
