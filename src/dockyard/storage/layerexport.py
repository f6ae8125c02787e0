"""Layer tars out of an overlay diff/ directory (S1, S3, S6, E3); the way in is archive.py.

`export_tar` walks diff/ in sorted order and writes PAX headers itself, streaming file contents
in chunks, so a layer of any size never sits in memory. Output is deterministic for a given tree
(sorted names, whole-second mtimes, numeric owners), so re-registering an exported layer yields
the same diff ID. Overlay whiteouts (0/0 char devices) and opaque dirs become `.wh.` entries.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from dockyard.storage.archive import (
    OPAQUE_XATTR,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
)

_OVERLAY_XATTRS = "trusted.overlay."
_XATTR_PAX = "SCHILY.xattr."
_BLOCK = 512
_CHUNK = 1 << 20


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """Pre-order walk, names sorted per directory: (tar name, host path, lstat)."""
    with os.scandir(root / rel if rel else root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield name, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, name)


def _export_xattrs(path: str) -> dict[str, str]:
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return {}
    out: dict[str, str] = {}
    for name in names:
        if name.startswith(_OVERLAY_XATTRS) or name == "security.selinux":
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out[_XATTR_PAX + name] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _header(name: str, st: os.stat_result, kind: bytes, size: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)  # whole seconds, as Docker: stable across export/import
    ti.size = size
    return ti


def _encode(ti: tarfile.TarInfo) -> bytes:
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _file_blocks(path: str, size: int) -> Iterator[bytes]:
    # The declared size wins: a file growing or shrinking under a running container must not
    # corrupt the stream.
    left = size
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    if left > 0:
        yield bytes(left)
    if size % _BLOCK:
        yield bytes(_BLOCK - size % _BLOCK)


def tar_directory(root: Path) -> Iterator[bytes]:
    """A plain tar of a whole tree (`docker export` of a merged rootfs): no whiteout mapping."""
    return export_tar(root, whiteouts=False)


def export_tar(root: Path, *, whiteouts: bool = True) -> Iterator[bytes]:
    """A layer tar of `root` (a diff/ dir): overlay whiteouts become `.wh.` entries, an opaque
    dir gets a `.wh..wh..opq` entry, hardlinks inside the tree become hardlink entries."""
    seen: dict[tuple[int, int], str] = {}
    for name, path, st in _walk(root):
        mode = st.st_mode
        if whiteouts and stat.S_ISCHR(mode) and st.st_rdev == 0:
            head, _, base = name.rpartition("/")
            wh = f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base
            ti = _header(wh, st, tarfile.REGTYPE)
            ti.mode = 0o600
            yield _encode(ti)
            continue
        if stat.S_ISSOCK(mode):
            continue
        if stat.S_ISDIR(mode):
            ti = _header(name, st, tarfile.DIRTYPE)
        elif stat.S_ISLNK(mode):
            ti = _header(name, st, tarfile.SYMTYPE)
            ti.linkname = os.readlink(path)
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                ti = _header(name, st, tarfile.LNKTYPE)
                ti.linkname = seen[key]
            else:
                if st.st_nlink > 1:
                    seen[key] = name
                ti = _header(name, st, tarfile.REGTYPE, st.st_size)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti = _header(name, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            ti = _header(name, st, tarfile.FIFOTYPE)
        else:
            continue
        ti.pax_headers = _export_xattrs(path)
        yield _encode(ti)
        if ti.type == tarfile.REGTYPE and ti.size:
            yield from _file_blocks(path, ti.size)
        if whiteouts and ti.type == tarfile.DIRTYPE and _is_opaque(path):
            opq = _header(f"{name}/{WHITEOUT_OPAQUE}", st, tarfile.REGTYPE)
            yield _encode(opq)
    yield bytes(2 * _BLOCK)
