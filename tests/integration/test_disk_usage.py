"""`system df` (S5) reuses sizes of trees that cannot have changed; every write through Docker's
paths after a cached df still shows up in the next one."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def dy(d: Daemon, *args: str, input: bytes | None = None) -> str:
    r = d.dockyard(*args, input=input)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def df(d: Daemon) -> dict[str, Any]:
    status, doc = d.api("GET", "/system/df")
    assert status == 200
    return dict(doc)


def sizes(d: Daemon, cid: str, vol: str) -> tuple[int, int]:
    doc = df(d)
    row = next(c for c in doc["Containers"] if c["Id"] == cid)
    v = next(v for v in doc["Volumes"] if v["Name"] == vol)
    assert row["SizeRootFs"] >= row["SizeRw"]
    return row["SizeRw"], v["UsageData"]["Size"]


def test_writes_after_a_cached_df_show_up(daemon: Daemon) -> None:
    """S5: a running container's writes to its layer and to a volume, a stopped container run
    again, `cp` into a stopped container and into its volume, a second user of the volume."""
    vol = f"dfc-{secrets.token_hex(4)}"
    cid = dy(daemon, "create", "-v", f"{vol}:/v", "busybox", "sh", "-c",
             "head -c 1000 /dev/zero > /w1; head -c 100 /dev/zero > /v/a; "
             "[ -e /go ] || exit 0; head -c 2000 /dev/zero > /w2; "
             "head -c 200 /dev/zero > /v/b; sleep 30").strip()  # fmt: skip
    other = ""
    try:
        dy(daemon, "start", "-a", cid)
        rw0, v0 = sizes(daemon, cid, vol)
        assert v0 == 100 and rw0 >= 1000
        assert sizes(daemon, cid, vol) == (rw0, v0)  # cached: same answer
        # A write no stamp shows: only the forget_all() after a PUT makes it visible.
        dy(daemon, "cp", "-", f"{cid}:/v", input=_tar("deep/x", 300))
        rw1, v1 = sizes(daemon, cid, vol)
        assert (rw1, v1) == (rw0, 400)
        dy(daemon, "cp", "-", f"{cid}:/etc", input=_tar("deep/y", 50))
        assert sizes(daemon, cid, vol)[0] == rw0 + 50
        dy(daemon, "cp", "-", f"{cid}:/", input=_tar("go", 0))
        dy(daemon, "start", cid)  # runs again: writes while df is asked
        deadline = time.monotonic() + 20
        while sizes(daemon, cid, vol) != (rw0 + 50 + 2000, 600):
            assert time.monotonic() < deadline, sizes(daemon, cid, vol)
            time.sleep(0.2)
        dy(daemon, "kill", cid)
        dy(daemon, "wait", cid)
        assert sizes(daemon, cid, vol) == (rw0 + 50 + 2000, 600)
        other = dy(daemon, "run", "-d", "-v", f"{vol}:/v", "busybox", "sh", "-c",
                   "mkdir -p /v/q/r && head -c 5 /dev/zero > /v/q/r/z").strip()  # fmt: skip
        dy(daemon, "wait", other)
        assert sizes(daemon, cid, vol)[1] == 605
    finally:
        daemon.dockyard("rm", "-f", cid, *([other] if other else []))
        daemon.dockyard("volume", "rm", vol)


def test_a_user_that_came_and_went_between_two_dfs(daemon: Daemon) -> None:
    """S5: `run --rm` writing deep into a volume leaves its users as they were before; the
    next df must still walk it."""
    vol = f"dfr-{secrets.token_hex(4)}"
    dy(daemon, "run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c",
       "mkdir -p /v/d && head -c 10 /dev/zero > /v/d/f")  # fmt: skip
    try:
        size = next(v for v in df(daemon)["Volumes"] if v["Name"] == vol)["UsageData"]["Size"]
        assert size == 10
        dy(daemon, "run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c",
           "head -c 90 /dev/zero >> /v/d/f")  # fmt: skip
        size = next(v for v in df(daemon)["Volumes"] if v["Name"] == vol)["UsageData"]["Size"]
        assert size == 100
    finally:
        daemon.dockyard("volume", "rm", vol)


def _tar(name: str, size: int) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        parts = name.split("/")
        for i in range(1, len(parts)):
            d = tarfile.TarInfo("/".join(parts[:i]))
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(d)
        ti = tarfile.TarInfo(name)
        ti.size = size
        tf.addfile(ti, io.BytesIO(bytes(size)))
    return buf.getvalue()
