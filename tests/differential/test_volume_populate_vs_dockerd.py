"""S8 against the oracle: a new named volume mounted on an image directory takes that
directory's owner, mode and mtime even when the directory is empty (moby's fs.CopyDir copies the
root's metadata whatever it holds); `nocopy` leaves the volume as the driver made it."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

DOCKERFILE = (
    "FROM busybox\n"
    'RUN mkdir /data && chown 1042:1043 /data && chmod 750 /data && touch -d "2001-02-03 04:05:06" /data\n'
)


def _docker(sock: str, *args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_BUILDKIT": "0"}
    proc = subprocess.run(
        ["docker", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def _outcome(sock: str, ctx: Path, tag: str) -> tuple[str, str, tuple[int, int, int, int]]:
    copied, plain = f"pop-{tag}", f"nocopy-{tag}"
    _docker(sock, "build", "-q", "-t", f"popempty:{tag}", ".", cwd=ctx)
    try:
        inside = _docker(sock, "run", "--pull", "never", "--rm", "-v", f"{copied}:/data",
                         f"popempty:{tag}", "ls", "-lnd", "--full-time", "/data")  # fmt: skip
        untouched = _docker(sock, "run", "--pull", "never", "--rm", "-v", f"{plain}:/data:nocopy",
                            f"popempty:{tag}", "ls", "-lnd", "/data")  # fmt: skip
        mountpoint = _docker(sock, "volume", "inspect", "-f", "{{.Mountpoint}}", copied).strip()
        st = os.stat(mountpoint)
        host = (st.st_uid, st.st_gid, st.st_mode & 0o7777, int(st.st_mtime))
        return " ".join(inside.split()[2:4]) + " " + inside.split()[0], untouched.split()[0], host
    finally:
        for args in (("volume", "rm", "-f", copied, plain), ("rmi", f"popempty:{tag}")):
            env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
            subprocess.run(["docker", *args], env=env, capture_output=True, timeout=60)


def test_an_empty_image_directory_gives_its_owner_and_mode_as_dockerd(
    oracle: str, daemon: Daemon, tmp_path: Path
) -> None:
    """S8: the volume's root is 1042:1043 0750 with the image directory's mtime on both; with
    nocopy it stays root's 0755 on both."""
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    tag = uuid.uuid4().hex[:8]
    want = _outcome(oracle, tmp_path, tag)
    got = _outcome(str(daemon.socket), tmp_path, tag)
    assert want == ("1042 1043 drwxr-x---", "drwxr-xr-x", (1042, 1043, 0o750, 981173106))
    assert got == want
