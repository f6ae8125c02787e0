"""Layer tar import/export without root: name cleaning, safe extraction, export order,
hardlinks, determinism (S1, S6, E3)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import InvalidParameter
from dockyard.storage import archive, layerexport


def tar_of(entries: list[tuple[str, bytes | None, str]]) -> bytes:
    """(name, data or None for a dir, symlink target or "")."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data, link in entries:
            ti = tarfile.TarInfo(name)
            ti.uid, ti.gid, ti.mtime = os.getuid(), os.getgid(), 1_234_567_890
            if link:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                tf.addfile(ti)
            elif data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o750
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o640
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("a/b", ("a", "b")),
        ("./a//b/", ("a", "b")),
        ("/etc/passwd", ("etc", "passwd")),
        ("a/../b", ("b",)),
        (".", ()),
    ],
)
def test_clean_name(name: str, parts: tuple[str, ...]) -> None:
    assert archive.clean_name(name) == parts


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "/../x"])
def test_clean_name_refuses_escapes(name: str) -> None:
    with pytest.raises(InvalidParameter):
        archive.clean_name(name)


def test_apply_files_dirs_symlinks(tmp_path: Path) -> None:
    """S1: content, modes and mtimes land as in the tar; directories get their mtime last."""
    data = tar_of([("d", None, ""), ("d/f", b"hello", ""), ("d/s", b"", "f")])
    assert archive.apply_tar(io.BytesIO(data), tmp_path) == 3
    assert (tmp_path / "d" / "f").read_bytes() == b"hello"
    assert (tmp_path / "d" / "f").stat().st_mode & 0o7777 == 0o640
    assert (tmp_path / "d").stat().st_mode & 0o7777 == 0o750
    assert (tmp_path / "d").stat().st_mtime == 1_234_567_890
    assert os.readlink(tmp_path / "d" / "s") == "f"


def test_later_entry_replaces_earlier(tmp_path: Path) -> None:
    data = tar_of([("x", None, ""), ("x/y", b"1", ""), ("x", b"file now", "")])
    archive.apply_tar(io.BytesIO(data), tmp_path)
    assert (tmp_path / "x").read_bytes() == b"file now"


@pytest.mark.parametrize(
    "entries",
    [
        [("../up", b"x", "")],
        [("link", b"", ".."), ("link/up", b"x", "")],
        [("link", b"", "/tmp"), ("link/pwned-by-test", b"x", "")],
        [(".wh.", b"", "")],
        [("a/.wh..", b"", "")],
    ],
)
def test_hostile_entries_write_nothing_outside(
    tmp_path: Path, entries: list[tuple[str, bytes | None, str]]
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidParameter):
        archive.apply_tar(io.BytesIO(tar_of(entries)), dest)
    assert sorted(os.listdir(tmp_path)) == ["dest"]
    assert not Path("/tmp/pwned-by-test").exists()


@pytest.mark.parametrize(
    "entries",
    [
        # The directory a member was just written into is replaced, then written through.
        [("a", None, ""), ("a/f1", b"1", ""), ("a", b"", ".."), ("a/f2", b"2", "")],
        [("d", None, ""), ("d/e", None, ""), ("d/e/f", b"1", ""), ("d/e", b"now a file", ""),
         ("d/e/g", b"2", "")],
    ],
)  # fmt: skip
def test_replaced_parent_is_not_written_through(
    tmp_path: Path, entries: list[tuple[str, bytes | None, str]]
) -> None:
    """The extractor keeps the last parent directory open between members: a member that
    replaces that directory must make the next one fail as a fresh walk would."""
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidParameter, match="non-directory"):
        archive.apply_tar(io.BytesIO(tar_of(entries)), dest)
    assert sorted(os.listdir(tmp_path)) == ["dest"]


def test_sparse_member_is_refused_and_unknown_types_skipped(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        odd = tarfile.TarInfo("odd")
        odd.type, odd.size = b"Z", 600  # an unknown type with data, which tarfile skips
        tf.addfile(odd, io.BytesIO(b"z" * 600))
        after = tarfile.TarInfo("after")
        after.size = 2
        tf.addfile(after, io.BytesIO(b"ok"))
    archive.apply_tar(io.BytesIO(buf.getvalue()), tmp_path)
    assert (tmp_path / "after").read_bytes() == b"ok"
    assert not (tmp_path / "odd").exists()

    sparse = tarfile.TarInfo("holes")
    sparse.type = tarfile.GNUTYPE_SPARSE
    with pytest.raises(InvalidParameter, match="sparse"):
        archive.apply_tar(io.BytesIO(sparse.tobuf(tarfile.GNU_FORMAT) + bytes(1024)), tmp_path)
    assert not (tmp_path / "holes").exists()


def test_bad_pax_record_is_refused(tmp_path: Path) -> None:
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, 10
    data = pax.tobuf(tarfile.USTAR_FORMAT) + b"no-length!".ljust(512, b"\0") + bytes(1024)
    with pytest.raises(InvalidParameter, match="bad pax record"):
        archive.apply_tar(io.BytesIO(data), tmp_path)


def test_truncated_tar_is_refused(tmp_path: Path) -> None:
    data = tar_of([("a", b"1", ""), ("b", b"2", "")])
    with pytest.raises(InvalidParameter):
        archive.apply_tar(io.BytesIO(data[:1024] + b"\x01" * 512), tmp_path)


def test_export_order_hardlinks_and_round_trip(tmp_path: Path) -> None:
    """E3: sorted pre-order names, dirs with "/", hardlinks as links, byte-identical re-export."""
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "b" / "f").write_bytes(b"x" * 1000)
    os.link(src / "b" / "f", src / "b" / "g")
    (src / "a.txt").write_text("a")
    (src / "c").symlink_to("b/f")
    os.setxattr(src / "a.txt", "user.k", b"v")
    data = b"".join(layerexport.export_tar(src))
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
        assert [m.name for m in members] == ["a.txt", "b", "b/f", "b/g", "c"]
        assert members[3].islnk() and members[3].linkname == "b/f"
        assert members[0].pax_headers["SCHILY.xattr.user.k"] == "v"
        assert members[4].issym() and members[4].linkname == "b/f"
    dst = tmp_path / "dst"
    dst.mkdir()
    archive.apply_tar(io.BytesIO(data), dst)
    assert (dst / "b" / "g").stat().st_ino == (dst / "b" / "f").stat().st_ino
    assert os.getxattr(dst / "a.txt", "user.k") == b"v"
    assert b"".join(layerexport.export_tar(dst)) == data


def test_export_streams_in_chunks(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    chunks = list(layerexport.export_tar(tmp_path))
    assert max(len(c) for c in chunks) <= 1024 * 1024
