"""`--volumes-from CONTAINER[:ro|rw]` (S8, S9): every volume and bind of the source container
at the same destinations, a mode override, Docker's errors, and volumes that outlive `rm` of
their source while another container still uses them."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.test_volumes import uniq

pytestmark = pytest.mark.integration


def dy(d: Daemon, *args: str) -> str:
    r = d.dockyard(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture
def hostdir() -> Iterator[Path]:
    p = Path(tempfile.mkdtemp(prefix="dy-vf-"))
    try:
        yield p
    finally:
        shutil.rmtree(p, ignore_errors=True)


def mounts(d: Daemon, ref: str) -> dict[str, dict[str, object]]:
    doc = json.loads(dy(d, "inspect", ref))[0]
    return {m["Destination"]: m for m in doc["Mounts"]}


def test_volumes_from_copies_volumes_and_binds(daemon: Daemon, hostdir: Path) -> None:
    """S8/S9: an anonymous volume, a named volume and a read-only bind reach the new container
    at the same paths; `:ro` makes them all read-only; .Mounts as dockerd 20.10 shows them."""
    src, vol = uniq("vf-src"), uniq("vf-named")
    (hostdir / "hostfile").write_text("from host\n")
    dy(daemon, "run", "--name", src, "-v", "/anon", "-v", f"{vol}:/named",
       "-v", f"{hostdir}:/bind:ro", "busybox", "sh", "-c",
       "echo anon > /anon/f && echo named > /named/f")  # fmt: skip
    rw, ro = uniq("vf-rw"), uniq("vf-ro")
    try:
        out = dy(daemon, "run", "--name", rw, "--volumes-from", src, "busybox", "sh", "-c",
                 "cat /anon/f /named/f /bind/hostfile && echo more >> /named/f && "
                 "(touch /bind/x 2>/dev/null && echo bind-writable || echo bind-ro)")  # fmt: skip
        assert out == "anon\nnamed\nfrom host\nbind-ro\n"
        theirs, ours = mounts(daemon, src), mounts(daemon, rw)
        assert set(ours) == {"/anon", "/named", "/bind"}
        for dest in ours:
            assert ours[dest]["Source"] == theirs[dest]["Source"]
            assert ours[dest]["Mode"] == ""
            assert ours[dest]["RW"] == theirs[dest]["RW"]
        assert ours["/named"]["Name"] == vol and ours["/named"]["Type"] == "volume"
        assert ours["/bind"]["Propagation"] == "rprivate"
        dy(daemon, "create", "--name", ro, "--volumes-from", f"{src}:ro", "busybox", "true")
        assert not any(m["RW"] for m in mounts(daemon, ro).values())
        dy(daemon, "start", "-a", ro)
        r = daemon.dockyard("run", "--rm", "--volumes-from", f"{src}:ro", "busybox",
                            "sh", "-c", "cat /named/f; echo x > /named/g")  # fmt: skip
        assert r.returncode != 0 and "Read-only file system" in r.stderr + r.stdout
        assert "named\nmore\n" in r.stdout
    finally:
        daemon.dockyard("rm", "-f", "-v", ro, rw, src)
        daemon.dockyard("volume", "rm", vol)


def test_own_mounts_override_inherited_ones(daemon: Daemon, hostdir: Path) -> None:
    """S8: a -v at an inherited destination wins; the rest is still inherited."""
    src, ctr, other = uniq("vf-src"), uniq("vf-ovr"), uniq("vf-other")
    dy(daemon, "create", "--name", src, "-v", "/a", "-v", "/b", "busybox", "true")
    try:
        dy(daemon, "create", "--name", ctr, "--volumes-from", src, "-v", f"{other}:/a",
           "busybox", "true")  # fmt: skip
        ours, theirs = mounts(daemon, ctr), mounts(daemon, src)
        assert ours["/a"]["Name"] == other and ours["/a"]["Mode"] == "z"
        assert ours["/b"]["Name"] == theirs["/b"]["Name"]
    finally:
        daemon.dockyard("rm", "-f", "-v", ctr, src)
        daemon.dockyard("volume", "rm", other)


def test_rm_of_source_keeps_volumes_in_use(daemon: Daemon) -> None:
    """S8: `rm -v` of the source keeps an anonymous volume another container uses; the last
    `rm -v` removes it; the inheriting container still starts after its source is gone."""
    src, ctr = uniq("vf-src"), uniq("vf-user")
    dy(daemon, "run", "--name", src, "-v", "/keep", "busybox", "sh", "-c", "echo kept > /keep/f")
    name = str(mounts(daemon, src)["/keep"]["Name"])
    dy(daemon, "create", "--name", ctr, "--volumes-from", src, "busybox", "cat", "/keep/f")
    try:
        r = daemon.dockyard("volume", "rm", name)
        assert r.returncode != 0 and "volume is in use" in r.stderr
        dy(daemon, "rm", "-v", src)
        assert name in dy(daemon, "volume", "ls", "-q").split()
        assert dy(daemon, "start", "-a", ctr) == "kept\n"
        dy(daemon, "rm", "-v", ctr)
        assert name not in dy(daemon, "volume", "ls", "-q").split()
    finally:
        daemon.dockyard("rm", "-f", "-v", ctr, src)


@pytest.mark.parametrize(
    ("spec", "status", "message"),
    [
        ("vf-nope-missing", 400, "No such container: vf-nope-missing"),
        ("", 400, "volumes-from specification cannot be an empty string"),
        ("{src}:rslave", 400, "invalid mode: rslave"),
        ("{src}:nocopy", 400, "invalid mode: nocopy"),
        ("{src}:bad", 400, "invalid mode: bad"),
        ("{src}:ro,rw", 400, "invalid mode: ro,rw"),
    ],
)
def test_bad_volumes_from_are_docker_errors(
    daemon: Daemon, spec: str, status: int, message: str
) -> None:
    """S8: dockerd 20.10's statuses and wording (a missing source is a 400 there, so the docker
    CLI does not try to pull the image); nothing is created."""
    src = uniq("vf-src")
    dy(daemon, "create", "--name", src, "-v", "/x", "busybox", "true")
    try:
        before = set(dy(daemon, "ps", "-aq", "--no-trunc").split())
        vols = set(dy(daemon, "volume", "ls", "-q").split())
        body = {"Image": "busybox", "Cmd": ["true"],
                "HostConfig": {"VolumesFrom": [spec.format(src=src)]}}  # fmt: skip
        code, doc = daemon.api("POST", "/containers/create", body)
        assert (code, doc["message"]) == (status, message)
        assert set(dy(daemon, "ps", "-aq", "--no-trunc").split()) == before
        assert set(dy(daemon, "volume", "ls", "-q").split()) == vols
    finally:
        daemon.dockyard("rm", "-f", "-v", src)
