"""Tar streams written for `cp` (S11): the stat header's Go FileMode, PAX headers with
whole-second mtimes and numeric owners, file data in 1 MiB chunks with Docker's hardlink and
padding rules. Shared by the daemon (GET /archive) and the CLI (cp into a container)."""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator

_CHUNK = 1 << 20
_BLOCK = 512

# Go's os.FileMode type bits (the stat header's `mode` is a FileMode, not a st_mode).
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHARDEV = 1 << 21
GO_STICKY = 1 << 20


def go_file_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {
        stat.S_IFDIR: GO_DIR,
        stat.S_IFLNK: GO_SYMLINK,
        stat.S_IFBLK: GO_DEVICE,
        stat.S_IFCHR: GO_DEVICE | GO_CHARDEV,
        stat.S_IFIFO: GO_PIPE,
        stat.S_IFSOCK: GO_SOCKET,
    }.get(kind, 0)
    if st_mode & stat.S_ISUID:
        mode |= GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_STICKY
    return mode


def header(name: str, st: os.stat_result, link: str = "") -> tarfile.TarInfo | None:
    """A tar header for one entry (None for sockets, which tar cannot carry)."""
    ti = tarfile.TarInfo(name)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        ti.type, ti.linkname = tarfile.SYMTYPE, link
    elif stat.S_ISREG(mode):
        ti.type, ti.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return None
    ti.mode = stat.S_IMODE(mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def encode(ti: tarfile.TarInfo) -> bytes:
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def file_blocks(fd: int, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of the open file plus tar padding; a file that shrinks while we
    read it is padded with zeros so the stream stays well-formed. Closes `fd`."""
    left = size
    try:
        while left > 0:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
    if left > 0:
        yield bytes(left)
    if size % _BLOCK:
        yield bytes(_BLOCK - size % _BLOCK)


def end_of_archive() -> bytes:
    return bytes(2 * _BLOCK)


def coalesce(chunks: Iterator[bytes], size: int = _CHUNK) -> Iterator[bytes]:
    """Join small pieces (headers, small files) into ~`size` blocks: each chunk handed to the
    event loop costs a thread hop, and a tree of small files is mostly small pieces."""
    buf: list[bytes] = []
    held = 0
    for chunk in chunks:
        buf.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(buf)
            buf, held = [], 0
    if buf:
        yield b"".join(buf)
