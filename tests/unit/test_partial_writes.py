"""R1 (#17 item 2): partial writes land under a temp name and are renamed in. A `cp` into a
container on a filesystem without O_TMPFILE (overlayfs before Linux 6.6: Debian 12's kernel)
writes beside the file and renames; a cut-short copy (either way) leaves the old file whole and
no temp name. A volume populate copies into a temp tree beside the volumes and renames the
entries in: cut short, the volume stays empty (to be populated again) and the driver removes
the temp tree at its next start."""

from __future__ import annotations

import errno
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.services.containers import cppending
from dockyard.storage import copyarchive as ca
from dockyard.storage.beneath import open_below
from dockyard.volumes import local, populate

DATA = os.urandom(300_000)


def _tar(name: str, data: bytes, cut: int | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(data), 0o640
        tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return io.BytesIO(raw if cut is None else raw[:cut])


def _extract(root: Path, data: io.BytesIO) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        opts = ca.ExtractOptions(lchown=False, root_name=str(root))
        return ca.extract(data, lambda parts, create: open_below(fd, parts, create), opts)
    finally:
        os.close(fd)


@pytest.fixture(params=["O_TMPFILE", "temp name"])
def fs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both ways a file is written: O_TMPFILE, and the fallback where the kernel refuses it."""
    if request.param == "temp name":
        real_open = os.open

        def no_tmpfile(path: Any, flags: int, *a: Any, **kw: Any) -> int:
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(errno.EOPNOTSUPP, "no O_TMPFILE here")
            return real_open(path, flags, *a, **kw)

        monkeypatch.setattr(ca.os, "open", no_tmpfile)
    yield request.param


def _names(root: Path) -> list[str]:
    return sorted(os.listdir(root))


def test_a_copy_replaces_the_file_whole(tmp_path: Path, fs: str) -> None:
    (tmp_path / "f").write_bytes(b"old")
    assert _extract(tmp_path, _tar("f", DATA)) == 1
    assert (tmp_path / "f").read_bytes() == DATA
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640
    assert _names(tmp_path) == ["f"]


def test_a_copy_cut_short_leaves_the_old_file_and_no_temp_name(tmp_path: Path, fs: str) -> None:
    (tmp_path / "f").write_bytes(b"old")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the tar reader's own error
        _extract(tmp_path, _tar("f", DATA, cut=512 + 100_000))
    assert (tmp_path / "f").read_bytes() == b"old"
    assert _names(tmp_path) == ["f"]


def test_a_copy_over_a_directory_follows_the_overwrite_rules(tmp_path: Path, fs: str) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "inner").write_text("x")
    _extract(tmp_path, _tar("f", DATA))  # without no_overwrite_dir_non_dir: replaced
    assert (tmp_path / "f").read_bytes() == DATA
    assert _names(tmp_path) == ["f"]


def _image_dir(root: Path) -> Path:
    src = root / "rootfs" / "etc"
    (src / "sub").mkdir(parents=True)
    (src / "passwd").write_text("root:x:0:0\n")
    (src / "sub" / "deep").write_text("deep\n")
    os.chmod(src, 0o751)
    return root / "rootfs"


def test_populate_renames_the_copy_in_and_keeps_the_volume_inode(tmp_path: Path) -> None:
    rootfs = _image_dir(tmp_path)
    vols = tmp_path / "volumes"
    data = local.LocalDriver(vols).create("v")
    inode = data.stat().st_ino
    assert populate.populate(rootfs, "/etc", data)
    assert (data / "passwd").read_text() == "root:x:0:0\n"
    assert (data / "sub" / "deep").read_text() == "deep\n"
    assert data.stat().st_ino == inode and data.stat().st_mode & 0o777 == 0o751
    assert not [p for p in os.listdir(vols) if p.startswith(populate.TEMP_PREFIX)]


def test_populate_cut_short_leaves_the_volume_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rootfs = _image_dir(tmp_path)
    vols = tmp_path / "volumes"
    data = local.LocalDriver(vols).create("v")
    real_copy = populate.copy_tree

    def half(src: Path, dst: Path) -> None:
        real_copy(src, dst)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(populate, "copy_tree", half)
    with pytest.raises(OSError, match="No space"):
        populate.populate(rootfs, "/etc", data)
    assert os.listdir(data) == []
    assert not [p for p in os.listdir(vols) if p.startswith(populate.TEMP_PREFIX)]
    monkeypatch.setattr(populate, "copy_tree", real_copy)
    assert populate.populate(rootfs, "/etc", data)  # still empty, so populated again


def test_a_populate_copy_left_by_a_killed_daemon_goes_at_start(tmp_path: Path) -> None:
    vols = tmp_path / "volumes"
    local.LocalDriver(vols).create("v")
    left = vols / f"{populate.TEMP_PREFIX}0123456789abcdef"
    (left / "etc").mkdir(parents=True)
    (left / "etc" / "passwd").write_text("half")
    local.LocalDriver(vols)
    assert not left.exists()
    assert (vols / "v" / "_data").is_dir()


def test_temp_names_a_killed_copy_left_are_swept_at_start(tmp_path: Path) -> None:
    """The fallback's temp names, left by an extractor killed mid-copy (a host crash): the
    marker names the directory the copy wrote under; the sweep removes only temp names."""
    ctr = tmp_path / "containers" / "c1"
    ctr.mkdir(parents=True)
    upper = tmp_path / "upper" / "tmp"
    (upper / "sub").mkdir(parents=True)
    (upper / "kept").write_text("a file of the container's own")
    (upper / f"{ca.TEMP_PREFIX}0011223344556677").write_bytes(b"half")
    (upper / "sub" / f"{ca.TEMP_PREFIX}8899aabbccddeeff").write_bytes(b"half")
    (tmp_path / "upper" / f"{ca.TEMP_PREFIX}above").write_bytes(b"not this copy's")
    marker = cppending.mark(ctr, str(upper))
    assert marker.read_text() == str(upper)
    removed = cppending.sweep(ctr)
    assert sorted(Path(p).parent.name for p in removed) == ["sub", "tmp"]
    assert sorted(os.listdir(upper)) == ["kept", "sub"] and os.listdir(upper / "sub") == []
    assert (tmp_path / "upper" / f"{ca.TEMP_PREFIX}above").exists()
    assert list((ctr / cppending.DIR).iterdir()) == []
    assert cppending.sweep(ctr) == []
    done = cppending.mark(ctr, str(upper))
    cppending.unmark(done)  # a copy that finished leaves no marker
    assert list((ctr / cppending.DIR).iterdir()) == []
