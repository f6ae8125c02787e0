"""A real, big image through a real registry, both ways (E5, #13): the Debian 12 root file system
that scripts/install builds with debootstrap (minbase plus python3, ~170 MB uncompressed, cached
in /var/cache/dockyard), imported, built on, pushed with the docker CLI through dockyard to a
docker-registry (distribution 2.8) on 127.0.0.1 (tests/registry.py), removed, pulled back and run;
and against dockerd 20.10 (the oracle): it pulls and runs what dockyard pushed, and dockyard pulls
and runs what it pushed, with the same image Id, RepoDigests and layer diff IDs.

One import, one push and one pull each way; nothing is left in the daemon's data root afterwards
(temp files, layers, blobs), the registry's storage goes with it (tests/registry.py)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import oracle as oracle_dockerd
from tests import registry as R
from tests.compat.cli import docker, ok
from tests.conftest import Daemon
from tests.integration.test_registry_pull import blob_file, forget, inspect
from tests.integration.test_registry_push import oracle_forget

pytestmark = pytest.mark.integration

# Built by scripts/install (scripts/debian-rootfs --include python3).
ROOTFS = Path("/var/cache/dockyard/debian12-python3.tar")
# A big image on a busy 2-core machine: import, push and pull take seconds each, not minutes.
SLOW = 600
Argv = tuple[str, ...]
BASH_VERSION = ("bash", "-c", "echo $BASH_VERSION")
PYTHON_VERSION = (
    "python3",
    "-c",
    "import sys, ssl; print(sys.version); print(ssl.OPENSSL_VERSION)",
)
# What Debian 12 ships: bash 5.2, Python 3.11 (with its ssl module: libssl3 is there).
BASH_RE = re.compile(r"5\.2\.\d+\(\d+\)-release\n")
PYTHON_RE = re.compile(r"3\.11\.\d+ \(main, .*\) \[GCC 12\.\d+\.\d+\]\nOpenSSL 3\.\d+\.\d+ .*\n")


@pytest.fixture(scope="module")
def tarball() -> tuple[Path, str]:
    """The rootfs tarball and its sha256: the diff ID an import of it must give its one layer."""
    assert ROOTFS.is_file(), f"{ROOTFS} is missing: scripts/install builds it (debootstrap)"
    h = hashlib.sha256()
    with ROOTFS.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return ROOTFS, "sha256:" + h.hexdigest()


def cli(d: Daemon, *args: str) -> str:
    """`docker ARGS` against dockyard (the legacy builder for `build`); its stdout."""
    return ok(docker(d, *args, env={"DOCKER_BUILDKIT": "0"}, timeout=SLOW))


def oracle_cli(sock: str, *args: str) -> str:
    r = oracle_dockerd.docker(sock, *args, timeout=SLOW)
    assert r.returncode == 0, (args, r.stderr.decode())
    return r.stdout.decode()


def run(docker_cli: Callable[..., str], target: Daemon | str, ref: str, argv: Argv) -> str:
    """`docker run --rm --network none REF ARGV...` with `cli` (dockyard) or `oracle_cli`."""
    return docker_cli(target, "run", "--rm", "--network", "none", ref, *argv)


def pushed_digest(out: str, tag: str) -> str:
    """The digest from the docker CLI's last push line, 'TAG: digest: sha256:... size: N'."""
    m = re.search(rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: \d+$", out, re.M)
    assert m, out
    return m.group(1)


def gunzipped_digest(path: Path) -> str:
    h = hashlib.sha256()
    with gzip.open(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def data_root_entries(d: Daemon) -> set[str]:
    """Every path in the daemon's data root, a layer directory counting as one entry (its files
    are the layer's), the database's own files left out (SQLite changes them in place)."""
    out = set()
    for top, dirs, files in os.walk(d.data_root):
        rel = Path(top).relative_to(d.data_root)
        if rel.parts[:1] == ("overlay2",) and len(rel.parts) == 2 and rel.parts[1] != "l":
            dirs[:] = []
        out |= {str(rel / n) for n in dirs}
        out |= {str(rel / n) for n in files if not n.startswith("dockyard.db")}
    return out


def same_everywhere(d: Daemon, sock: str, ref: str) -> dict[str, Any]:
    """dockyard's and dockerd's inspect of `ref` agree on Id, RepoDigests and layers; dockyard's."""
    ours = inspect(d, ref)
    theirs = json.loads(oracle_cli(sock, "image", "inspect", ref))[0]
    for key in ("Id", "RepoDigests", "RootFS"):
        assert ours[key] == theirs[key], key
    return ours


@pytest.fixture
def nothing_left(daemon: Daemon) -> Iterator[None]:
    """The daemon's data root holds the same paths after the test as before: no temp files,
    layers, blobs or containers of the test."""
    before = data_root_entries(daemon)
    yield
    changed = data_root_entries(daemon) ^ before
    assert changed == set(), {
        p: (daemon.data_root / p).read_bytes()[:300] if (daemon.data_root / p).is_file() else None
        for p in changed
    }


# ---------------------------------------------------------------------------------------------


def test_debian12_pushed_by_dockyard_pulled_back_and_by_dockerd(
    daemon: Daemon, oracle: str, tarball: tuple[Path, str], tmp_path: Path, nothing_left: None
) -> None:
    """E5 (#13): the Debian 12 tarball imported into dockyard (`docker import`: one layer whose
    diff ID is the tarball's sha256), a second layer built on it (`RUN python3 ...`), pushed with
    the docker CLI: the registry holds a manifest whose config is the image and whose layers
    gunzip to the image's diff IDs. Removed locally with its base (no layer left), pulled back:
    the same Id, layers and RepoDigests, and bash 5.2 and Python 3.11 (with ssl) run in it. The
    oracle dockerd pulls the same push: the same Id, RepoDigests and layers, and python3 there
    prints what it prints in dockyard."""
    path, tar_digest = tarball
    base = f"dockyard-e5-debian12:{secrets.token_hex(4)}"
    with R.registry(tmp_path) as reg:
        ref = f"{reg.host}/e5/debian:12"
        try:
            cli(daemon, "import", "-c", 'CMD ["bash"]', str(path), base)
            assert inspect(daemon, base)["RootFS"]["Layers"] == [tar_digest]
            ctx = tmp_path / "ctx"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text(
                f"FROM {base}\n"
                "RUN python3 -c \"import pathlib, sys; pathlib.Path('/e5-built-with').write_text("
                'sys.version.split()[0])"\n'
            )
            cli(daemon, "build", "-q", "--network", "none", "-t", ref, str(ctx))
            img = inspect(daemon, ref)
            image_id, diff_ids = img["Id"], img["RootFS"]["Layers"]
            assert len(diff_ids) == 2 and diff_ids[0] == tar_digest, diff_ids

            digest = pushed_digest(cli(daemon, "push", ref), "12")
            _, served, man = R.manifest(reg, "e5/debian:12")
            assert served == digest and man["config"]["digest"] == image_id
            assert [lay["mediaType"] for lay in man["layers"]] == [R.DOCKER_LAYER] * 2
            for lay, diff_id in zip(man["layers"], diff_ids, strict=True):
                data = blob_file(reg, lay["digest"])
                assert data.stat().st_size == lay["size"]
                assert gunzipped_digest(data) == diff_id
            repo_digests = [f"{reg.host}/e5/debian@{digest}"]
            assert inspect(daemon, ref)["RepoDigests"] == repo_digests

            cli(daemon, "rmi", ref, base)
            assert daemon.api("GET", f"/images/{image_id}/json")[0] == 404
            out = cli(daemon, "pull", ref)
            assert f"Digest: {digest}" in out and "Already exists" not in out, out
            got = inspect(daemon, ref)
            assert (got["Id"], got["RootFS"]["Layers"]) == (image_id, diff_ids)
            assert got["RepoDigests"] == repo_digests
            bash = run(cli, daemon, ref, BASH_VERSION)
            assert BASH_RE.fullmatch(bash), bash
            ours = run(cli, daemon, ref, PYTHON_VERSION)
            assert PYTHON_RE.fullmatch(ours), ours
            built = run(cli, daemon, ref, ("cat", "/e5-built-with"))
            assert ours.startswith(built + " "), (built, ours)

            out = oracle_cli(oracle, "pull", ref)
            assert f"Digest: {digest}" in out, out
            same_everywhere(daemon, oracle, ref)
            assert run(oracle_cli, oracle, ref, PYTHON_VERSION) == ours
        finally:
            oracle_forget(oracle, ref)
            forget(daemon, reg.host, base)


def test_debian12_pushed_by_dockerd_pulled_by_dockyard(
    daemon: Daemon, oracle: str, tarball: tuple[Path, str], tmp_path: Path, nothing_left: None
) -> None:
    """E5 (#13): dockerd's own import of the same tarball (its layer's diff ID is the tarball's
    sha256 there too), pushed by dockerd to another repository, pulled by dockyard with the docker
    CLI: the same Id, RepoDigests and diff IDs as dockerd's, and bash and python3 run in it and
    print what they print under dockerd."""
    path, tar_digest = tarball
    with R.registry(tmp_path) as reg:
        ref = f"{reg.host}/e5/debian-from-dockerd:12"
        try:
            oracle_cli(oracle, "import", "-c", 'CMD ["bash"]', str(path), ref)
            theirs = json.loads(oracle_cli(oracle, "image", "inspect", ref))[0]
            assert theirs["RootFS"]["Layers"] == [tar_digest]
            digest = pushed_digest(oracle_cli(oracle, "push", ref), "12")
            man = R.manifest(reg, "e5/debian-from-dockerd:12")[2]
            assert gunzipped_digest(blob_file(reg, man["layers"][0]["digest"])) == tar_digest

            out = cli(daemon, "pull", ref)
            assert f"Digest: {digest}" in out, out
            got = same_everywhere(daemon, oracle, ref)
            assert got["Id"] == man["config"]["digest"]
            assert got["RootFS"]["Layers"] == [tar_digest]
            assert got["RepoDigests"] == [f"{reg.host}/e5/debian-from-dockerd@{digest}"]
            for argv, pattern in ((BASH_VERSION, BASH_RE), (PYTHON_VERSION, PYTHON_RE)):
                ours = run(cli, daemon, ref, argv)
                assert pattern.fullmatch(ours), ours
                assert run(oracle_cli, oracle, ref, argv) == ours
        finally:
            oracle_forget(oracle, ref)
            forget(daemon, reg.host)
