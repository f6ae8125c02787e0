"""The overlay2 driver on the real kernel: layout (S2), whiteouts and opaque dirs (S3), safe tar
apply, mounts. Needs root."""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter, System
from dockyard.storage import archive, mount
from dockyard.storage.overlay2 import MAX_DEPTH, Overlay2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

Entry = tuple[str, str, object]  # (name, kind, payload)


def make_tar(entries: list[Entry], **defaults: int) -> bytes:
    """kind: f (payload bytes), d, l (symlink target), h (hardlink target), c (rdev tuple), p."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = defaults.get("mode", 0o755 if kind == "d" else 0o644)
            ti.mtime = defaults.get("mtime", 1_600_000_000)
            data = None
            if kind == "f":
                assert isinstance(payload, bytes)
                ti.size, data = len(payload), io.BytesIO(payload)
            elif kind == "d":
                ti.type = tarfile.DIRTYPE
            elif kind in "lh":
                ti.type = tarfile.SYMTYPE if kind == "l" else tarfile.LNKTYPE
                ti.linkname = str(payload)
            elif kind == "c":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = payload  # type: ignore[misc]
            elif kind == "p":
                ti.type = tarfile.FIFOTYPE
            tf.addfile(ti, data)
    return buf.getvalue()


def tar_names(chunks: Iterator[bytes]) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r:") as tf:
        return tf.getnames()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Overlay2]:
    root = tmp_path / "overlay2"
    drv = Overlay2(root)
    yield drv
    left = mount.mounts_under(tmp_path)
    for p in sorted(left, reverse=True):
        mount.unmount(p, mount.MNT_DETACH)
    assert not left, f"test left mounts behind: {left}"


def test_layout_links_lower_committed(driver: Overlay2) -> None:
    """S2: diff/, link, l/<link> -> ../<id>/diff, lower (uppermost first), work/, committed."""
    driver.create("base", None)
    driver.create("mid", "base")
    driver.create("top", "mid")
    root = driver.root
    links = {i: (root / i / "link").read_text() for i in ("base", "mid", "top")}
    for i, link in links.items():
        assert re.fullmatch(r"[A-Z2-7]{26}", link)
        assert os.readlink(root / "l" / link) == f"../{i}/diff"
        assert (root / i / "diff").is_dir()
    assert not (root / "base" / "lower").exists()
    assert not (root / "base" / "work").exists()
    assert (root / "mid" / "lower").read_text() == f"l/{links['base']}"
    assert (root / "top" / "lower").read_text() == f"l/{links['mid']}:l/{links['base']}"
    assert (root / "top" / "work").is_dir()
    assert (root / "base" / "committed").exists() and (root / "mid" / "committed").exists()
    assert not (root / "top" / "committed").exists()
    assert driver.metadata("top")["LowerDir"] == f"{root}/mid/diff:{root}/base/diff"
    driver.remove("top")
    driver.remove("top")  # idempotent
    assert not (root / "top").exists() and not (root / "l" / links["top"]).exists()


def test_whiteouts_and_opaque_dirs_round_trip(driver: Overlay2) -> None:
    """S3/E3: .wh. entries become overlay whiteouts, hide lower files when mounted, and export
    back as the same .wh. entries."""
    driver.create("base", None)
    base = make_tar(
        [("a", "d", None), ("a/x", "f", b"x"), ("a/y", "f", b"y"), ("o", "d", None)]
        + [("o/p", "f", b"p")]
    )
    driver.apply_diff("base", io.BytesIO(base))
    driver.create("child", "base")
    child = make_tar(
        [("a", "d", None), ("a/.wh.x", "f", b""), ("o", "d", None)]
        + [("o/.wh..wh..opq", "f", b""), ("o/new", "f", b"n")]
    )
    driver.apply_diff("child", io.BytesIO(child))
    diff = driver.diff_dir("child")
    st = os.lstat(diff / "a" / "x")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(diff / "o", "trusted.overlay.opaque") == b"y"
    assert not (diff / "o" / ".wh..wh..opq").exists()
    driver.create("rw", "child")
    merged = driver.get("rw")
    try:
        assert sorted(os.listdir(merged / "a")) == ["y"]
        assert sorted(os.listdir(merged / "o")) == ["new"]
    finally:
        driver.put("rw")
    assert not (driver.root / "rw" / "merged").exists()
    assert tar_names(driver.diff("child")) == ["a", "a/.wh.x", "o", "o/.wh..wh..opq", "o/new"]


def test_apply_keeps_types_owners_modes_xattrs(driver: Overlay2) -> None:
    """S1: a layer keeps numeric owners, setuid, mtimes, symlinks, hardlinks, devices, xattrs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("bin/su")
        ti.mode, ti.uid, ti.gid, ti.mtime, ti.size = 0o4755, 1234, 5678, 1_500_000_000, 3
        ti.pax_headers = {"SCHILY.xattr.user.note": "hi", "SCHILY.xattr.trusted.overlay.x": "y"}
        tf.addfile(ti, io.BytesIO(b"abc"))
        for name, kind, extra in [
            ("bin/link", tarfile.SYMTYPE, "su"),
            ("bin/hard", tarfile.LNKTYPE, "bin/su"),
            ("dev/null", tarfile.CHRTYPE, ""),
            ("run/fifo", tarfile.FIFOTYPE, ""),
        ]:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.mode = kind, extra, 0o666
            ti.devmajor, ti.devminor = 1, 3
            tf.addfile(ti)
    driver.create("l1", None)
    size = driver.apply_diff("l1", io.BytesIO(buf.getvalue()))
    d = driver.diff_dir("l1")
    st = os.lstat(d / "bin/su")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime == 1_500_000_000 and st.st_nlink == 2
    assert os.getxattr(d / "bin/su", "user.note") == b"hi"
    assert "trusted.overlay.x" not in os.listxattr(d / "bin/su")
    assert os.readlink(d / "bin/link") == "su"
    assert os.lstat(d / "bin/hard").st_ino == st.st_ino
    dev = os.lstat(d / "dev/null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    assert stat.S_ISFIFO(os.lstat(d / "run/fifo").st_mode)
    assert size == 3 + len("su")  # hardlink once, symlink by its length


@pytest.mark.parametrize(
    "entries",
    [
        [("../escape", "f", b"x")],
        [("a/../../escape", "f", b"x")],
        [("hl", "h", "../outside/secret")],
        [("evil", "l", "../../outside"), ("evil/pwned", "f", b"x")],
        [("evil", "l", "/"), ("evil/tmp/pwned", "f", b"x")],
        [("dir/.wh.", "f", b"")],
        [(".wh..", "f", b"")],
        [("d/.wh...", "f", b"")],
    ],
)
def test_hostile_tars_are_refused(tmp_path: Path, entries: list[Entry]) -> None:
    """Path traversal via .., hardlink targets, symlinked parents, bad whiteout names."""
    layer = tmp_path / "layer"
    outside = tmp_path / "outside"
    layer.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("s")
    with pytest.raises(InvalidParameter):
        archive.apply_tar(io.BytesIO(make_tar(entries)), layer)
    assert sorted(os.listdir(outside)) == ["secret"]
    assert sorted(os.listdir(tmp_path)) == ["layer", "outside"]
    assert not Path("/tmp/pwned").exists()


def test_absolute_names_stay_inside(tmp_path: Path) -> None:
    archive.apply_tar(io.BytesIO(make_tar([("/etc/abs", "f", b"x")])), tmp_path)
    assert (tmp_path / "etc" / "abs").read_bytes() == b"x"


def test_export_is_deterministic(driver: Overlay2, tmp_path: Path) -> None:
    """E3/S6: export -> apply -> export gives the same bytes (same diff ID)."""
    driver.create("a", None)
    entries: list[Entry] = [("d", "d", None), ("d/f", "f", b"1" * 700), ("d/h", "h", "d/f")]
    driver.apply_diff("a", io.BytesIO(make_tar(entries + [("d/s", "l", "f")])))
    first = b"".join(driver.diff("a"))
    driver.create("b", None)
    driver.apply_diff("b", io.BytesIO(first))
    assert b"".join(driver.diff("b")) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tf:
        assert tf.getmember("d/h").islnk() and tf.getmember("d/h").linkname == "d/f"


def test_mount_refcount_and_adoption(driver: Overlay2) -> None:
    """Mounts are counted per id; a mount found after a restart is adopted, not doubled."""
    driver.create("base", None)
    driver.apply_diff("base", io.BytesIO(make_tar([("f", "f", b"lower")])))
    driver.create("rw", "base")
    merged = driver.get("rw")
    assert driver.get("rw") == merged
    assert (merged / "f").read_bytes() == b"lower"
    driver.put("rw")
    assert mount.is_mounted(merged)
    restarted = Overlay2(driver.root)  # a new daemon process sees the old mount
    assert restarted.get("rw") == merged and restarted.mount_count("rw") == 1
    restarted.put("rw")
    assert not mount.is_mounted(merged) and not merged.exists()
    # a base layer alone is a read-only view of its diff
    view = driver.get("base")
    try:
        assert (view / "f").read_bytes() == b"lower"
        with pytest.raises(OSError):
            (view / "g").write_text("x")
    finally:
        driver.put("base")


def test_deep_chain_mounts_and_max_depth(driver: Overlay2) -> None:
    """Option strings over a page fall back to relative l/ paths; depth > 128 is refused."""
    driver.create("L0", None)
    driver.apply_diff("L0", io.BytesIO(make_tar([("bottom", "f", b"b")])))
    for i in range(1, MAX_DEPTH + 1):
        driver.create(f"L{i}", f"L{i - 1}")
    with pytest.raises(System, match="max depth exceeded"):
        driver.create("too-deep", f"L{MAX_DEPTH}")
    driver.create("rw", f"L{MAX_DEPTH - 1}")
    merged = driver.get("rw")
    try:
        assert (merged / "bottom").read_bytes() == b"b"
        (merged / "top").write_text("t")
    finally:
        driver.put("rw")
    assert (driver.diff_dir("rw") / "top").read_text() == "t"
