"""`cp` with the official docker CLI and docker-py against dockyard (S11), table-driven from
MISSION S11 and REFERENCE §3.6/§2 row 14. Every case runs three ways: the docker CLI against
dockyard, our CLI against dockyard, and (differential, when dockerd is installed) the docker CLI
against a private dockerd; results (exit code, stderr, resulting tree) must be identical."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import oracle
from tests.clis import neutral
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

DOCKER = shutil.which("docker")
NAME = "cpcase"


def _tar(entries: list[tuple[str, str, str]]) -> bytes:
    """(name, kind d|f|l, content or link target) -> tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, value in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode = 1_700_000_000, 0o755 if kind == "d" else 0o644
            if kind == "d":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, value
                tf.addfile(ti)
            else:
                ti.size = len(value)
                tf.addfile(ti, io.BytesIO(value.encode()))
    return buf.getvalue()


CONTAINER_TREE = _tar([
    ("src", "d", ""), ("src/f", "f", "hi\n"), ("src/sub", "d", ""), ("src/sub/g", "f", "g\n"),
    ("src/l", "l", "/etc"), ("src/rl", "l", "f"), ("src/rs", "l", "sub"),
    ("dst", "d", ""), ("dst/file", "f", "old\n"), ("dst/dir", "d", ""), ("dst/lf", "l", "file"),
])  # fmt: skip


def _local_tree(base: Path) -> None:
    (base / "src" / "sub").mkdir(parents=True)
    (base / "src" / "f").write_text("hi\n")
    (base / "src" / "sub" / "g").write_text("g\n")
    (base / "src" / "rl").symlink_to("f")
    (base / "out" / "dir").mkdir(parents=True)
    (base / "out" / "file").write_text("old\n")


def _snap_local(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in sorted(dirnames + filenames):
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out.append(f"{rel} -> {os.readlink(p)}")
            elif p.is_dir():
                out.append(f"{rel}/")
            else:
                out.append(f"{rel}: {p.read_text()!r}")
    return sorted(out)


def _snap_tar(data: bytes) -> list[str]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            if m.issym():
                out.append(f"{m.name} -> {m.linkname}")
            elif m.isdir():
                out.append(f"{m.name.rstrip('/')}/")
            else:
                f = tf.extractfile(m)
                out.append(f"{m.name}: {(f.read() if f else b'').decode()!r}")
    return sorted(out)


# (id, cp args with {c} = container and {L} = local dir, expected exit code, must-exist entry)
FROM = [
    ("f-new", ["{c}:/src/f", "{L}/out/new"], 0, "new: 'hi\\n'"),
    ("f-missing-dir", ["{c}:/src/f", "{L}/out/nodir/"], 1, None),
    ("f-over-file", ["{c}:/src/f", "{L}/out/file"], 0, "file: 'hi\\n'"),
    ("f-into-dir", ["{c}:/src/f", "{L}/out/dir"], 0, "dir/f: 'hi\\n'"),
    ("d-new", ["{c}:/src", "{L}/out/new"], 0, "new/sub/g: 'g\\n'"),
    ("d-over-file", ["{c}:/src", "{L}/out/file"], 1, None),
    ("d-into-dir", ["{c}:/src", "{L}/out/dir"], 0, "dir/src/sub/g: 'g\\n'"),
    ("d-contents", ["{c}:/src/.", "{L}/out/dir"], 0, "dir/sub/g: 'g\\n'"),
    ("d-contents-new", ["{c}:/src/.", "{L}/out/new"], 0, "new/f: 'hi\\n'"),
    ("d-slash-into-dir", ["{c}:/src/", "{L}/out/dir"], 0, "dir/src/f: 'hi\\n'"),
    ("link", ["{c}:/src/rl", "{L}/out/new"], 0, "new -> f"),
    ("link-L", ["-L", "{c}:/src/rl", "{L}/out/new"], 0, "new: 'hi\\n'"),
    ("link-L-into-dir", ["-L", "{c}:/src/rl", "{L}/out/dir"], 0, "dir/rl: 'hi\\n'"),
    ("link-dir-slash", ["{c}:/src/rs/", "{L}/out/new"], 0, "new/g: 'g\\n'"),
    ("missing", ["{c}:/nope", "{L}/out/x"], 1, None),
    ("missing-parent", ["{c}:/src/f", "{L}/out/a/b"], 1, None),
]
TO = [
    ("to-f-new", ["{L}/src/f", "{c}:/dst/new"], 0, "dst/new: 'hi\\n'"),
    ("to-f-missing-dir", ["{L}/src/f", "{c}:/dst/nodir/"], 1, None),
    ("to-f-over-file", ["{L}/src/f", "{c}:/dst/file"], 0, "dst/file: 'hi\\n'"),
    ("to-f-into-dir", ["{L}/src/f", "{c}:/dst/dir"], 0, "dst/dir/f: 'hi\\n'"),
    ("to-f-via-symlink", ["{L}/src/f", "{c}:/dst/lf"], 0, "dst/file: 'hi\\n'"),
    ("to-d-new", ["{L}/src", "{c}:/dst/new"], 0, "dst/new/sub/g: 'g\\n'"),
    ("to-d-over-file", ["{L}/src", "{c}:/dst/file"], 1, None),
    ("to-d-into-dir", ["{L}/src", "{c}:/dst/dir"], 0, "dst/dir/src/sub/g: 'g\\n'"),
    ("to-d-contents", ["{L}/src/.", "{c}:/dst/dir"], 0, "dst/dir/sub/g: 'g\\n'"),
    ("to-link", ["{L}/src/rl", "{c}:/dst/new"], 0, "dst/new -> f"),
    ("to-link-L", ["-L", "{L}/src/rl", "{c}:/dst/new"], 0, "dst/new: 'hi\\n'"),
    ("to-missing-parent", ["{L}/src/f", "{c}:/dst/a/b"], 1, None),
    ("to-missing-src", ["{L}/nope", "{c}:/dst"], 1, None),
]


@pytest.fixture(scope="module")
def dockerd() -> Iterator[str | None]:
    if not oracle.available():
        yield None
        return
    base = Path("/tmp") / f"dockyard-cp-oracle-{os.getpid()}"
    with oracle.private_dockerd(base) as sock:
        yield sock


def _run(
    cli: list[str], sock: str, args: list[str], stdin: bytes | None = None
) -> tuple[int, str, bytes]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKYARD_HOST": f"unix://{sock}"}
    r = subprocess.run([*cli, *args], env=env, input=stdin, capture_output=True, timeout=60)
    # The docker CLI also logs its tar writer noticing the aborted upload: not part of the result.
    err = [ln for ln in r.stderr.decode().splitlines() if not ln.startswith('time="')]
    return r.returncode, "\n".join(err).strip(), r.stdout


def _container(cli: list[str], sock: str) -> None:
    _run(cli, sock, ["rm", "-f", NAME])
    assert _run(cli, sock, ["create", "--name", NAME, "busybox", "true"])[0] == 0
    assert _run([DOCKER or "docker"], sock, ["cp", "-", f"{NAME}:/"], CONTAINER_TREE)[0] == 0


def _case(cli: list[str], sock: str, args: list[str], base: Path) -> tuple[int, str, list[str]]:
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    _local_tree(base)
    _container(cli, sock)
    code, err, _ = _run(cli, sock, [a.format(c=NAME, L=base) for a in ["cp", *args]])
    _, _, dst = _run([DOCKER or "docker"], sock, ["cp", f"{NAME}:/dst", "-"])
    tree = _snap_local(base / "out") + _snap_tar(dst)
    _run(cli, sock, ["rm", "-f", NAME])
    shutil.rmtree(base, ignore_errors=True)
    return code, err, tree


OURS = [sys.executable, "-m", "dockyard"]


@pytest.mark.parametrize(("case", "args", "code", "want"), FROM + TO, ids=[c[0] for c in FROM + TO])
def test_cp_rules_docker_cli_ours_and_dockerd_agree(
    daemon: Daemon, dockerd: str | None, tmp_path: Path, case: str, args: list[str], code: int,
    want: str | None,
) -> None:  # fmt: skip
    """S11: each docker-cli rule; the docker CLI, our CLI and (differential) dockerd agree."""
    if DOCKER is None:
        pytest.skip("no docker CLI installed")
    base = tmp_path / "w"
    theirs = _case([DOCKER], str(daemon.socket), args, base)
    assert theirs[0] == code, theirs
    if want is not None:
        assert want in theirs[2], theirs
    ours = _case(OURS, str(daemon.socket), args, base)
    # Our CLI words errors as a current docker CLI; against 20.10 compare them neutrally.
    assert (ours[0], neutral(ours[1]), ours[2]) == (theirs[0], neutral(theirs[1]), theirs[2])
    if dockerd is not None:
        reference = _case([DOCKER], dockerd, args, base)
        assert theirs == reference


def test_cp_tar_streams_both_ways(daemon: Daemon, tmp_path: Path) -> None:
    """S11: `-` as source reads a tar from stdin into a directory; as dest writes one out."""
    if DOCKER is None:
        pytest.skip("no docker CLI installed")
    sock = str(daemon.socket)
    for cli in ([DOCKER], OURS):
        _container(cli, sock)
        code, err, out = _run(cli, sock, ["cp", f"{NAME}:/src", "-"])
        assert code == 0, err
        assert "src/sub/g: 'g\\n'" in _snap_tar(out)
        code, err, _ = _run(cli, sock, ["cp", "-", f"{NAME}:/dst/file"], CONTAINER_TREE)
        assert code == 1 and err == f'destination "{NAME}:/dst/file" must be a directory'
        _run(cli, sock, ["rm", "-f", NAME])


def test_docker_py_put_and_get_archive(daemon: Daemon) -> None:
    """S11: docker-py's put_archive/get_archive (stat dict included) against dockyard."""
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=f"unix://{daemon.socket}")
    ctr = client.containers.create("busybox", "true")
    try:
        assert ctr.put_archive("/", CONTAINER_TREE)
        bits, st = ctr.get_archive("/src/f")
        assert st["name"] == "f" and st["size"] == 3 and st["mode"] == 0o644
        assert _snap_tar(b"".join(bits)) == ["f: 'hi\\n'"]
        _, st = ctr.get_archive("/src")
        assert st["mode"] & (1 << 31)
        with pytest.raises(docker.errors.NotFound):
            ctr.get_archive("/nope")
        with pytest.raises(docker.errors.APIError, match="extraction point is not a directory"):
            ctr.put_archive("/src/f", CONTAINER_TREE)
    finally:
        ctr.remove(force=True)
        client.close()
