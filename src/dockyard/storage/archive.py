"""Layer tars into an overlay diff/ directory (S1, S3, S6, E3); the way out is layerexport.py.

Import (`apply_tar`) reads the stream with tarstream's TarReader (headers parsed by tarfile's
TarInfo, data copied straight into each file; tarfile's own stream mode copied its whole buffer
on every header) and does its own extraction: tarfile's extraction filters reject device nodes,
and overlay whiteouts *are* device nodes. Every path is
opened component by component relative to a directory fd with O_NOFOLLOW, so neither `..`,
absolute names nor a symlink planted earlier in the same tar can make us write outside `dest`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from dockyard.core.tarpaths import Escape, member_parts
from dockyard.errors import InvalidParameter
from dockyard.storage.beneath import DIR_FLAGS, ParentCache, make_node, open_below, remove_existing
from dockyard.storage.tarstream import TarReader

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_OVERLAY_XATTRS = "trusted.overlay."
_XATTR_PAX = "SCHILY.xattr."


def clean_name(name: str) -> tuple[str, ...]:
    """The components of a member name inside the layer. A leading "/" is dropped (the name is
    taken relative to the layer, as Docker does); a ".." that would climb above the layer root
    is refused."""
    try:
        return member_parts(name)
    except Escape:
        raise InvalidParameter(f"invalid tar entry {name!r}: path escapes the layer") from None


def _open_dir(root_fd: int, parts: tuple[str, ...], create: bool) -> int:
    try:
        return open_below(root_fd, parts, create)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidParameter(
                f"invalid tar entry: {'/'.join(parts)!r} goes through a non-directory"
            ) from e
        raise


def _xattrs(ti: tarfile.TarInfo) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in ti.pax_headers.items():
        if not key.startswith(_XATTR_PAX):
            continue
        name = key[len(_XATTR_PAX) :]
        if name.startswith(_OVERLAY_XATTRS):
            # A tar must not forge overlay metadata (redirects, opaque): only .wh. entries may.
            log.warning("ignoring overlay xattr %s on %s", name, ti.name)
            continue
        out[name] = value.encode("utf-8", "surrogateescape")
    return out


def _set_xattrs(target: int | str, ti: tarfile.TarInfo) -> None:
    for xname, value in _xattrs(ti).items():
        try:
            if isinstance(target, int):
                os.setxattr(target, xname, value)
            else:
                os.setxattr(target, xname, value, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            log.debug("xattr %s unsupported on %s", xname, ti.name)


def _apply_meta(pfd: int, name: str, ti: tarfile.TarInfo) -> None:
    os.chown(name, ti.uid, ti.gid, dir_fd=pfd, follow_symlinks=False)
    if not ti.issym():
        # After chown: chown clears setuid/setgid bits.
        os.chmod(name, ti.mode & 0o7777, dir_fd=pfd)
    _set_xattrs(f"/proc/self/fd/{pfd}/{name}", ti)
    if not ti.isdir():
        ns = int(ti.mtime * 1_000_000_000)
        os.utime(name, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)


def _write_file(pfd: int, name: str, ti: tarfile.TarInfo, reader: TarReader) -> None:
    """A regular file with its metadata, set through the open fd (no path lookups): created
    exclusively, so what was there is removed (Docker's rule) only when there was something."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=pfd)
    except FileExistsError:
        remove_existing(pfd, name, keep_dir=False)
        fd = os.open(name, flags, 0o600, dir_fd=pfd)
    try:
        reader.copy_to(fd, ti.size)
        os.fchown(fd, ti.uid, ti.gid)
        os.fchmod(fd, ti.mode & 0o7777)  # after chown: chown clears setuid/setgid bits
        _set_xattrs(fd, ti)
        ns = int(ti.mtime * 1_000_000_000)
        os.utime(fd, ns=(ns, ns))  # last: the writes above moved the mtime
    finally:
        os.close(fd)


def _apply_whiteout(parents: ParentCache, parts: tuple[str, ...], ti: tarfile.TarInfo) -> None:
    base = parts[-1]
    pfd = parents.get(parts[:-1])
    if base == WHITEOUT_OPAQUE:
        os.setxattr(pfd, OPAQUE_XATTR, b"y")
    elif base.startswith(WHITEOUT_META_PREFIX):
        log.debug("skipping whiteout meta entry %s", ti.name)
    else:
        target = base[len(WHITEOUT_PREFIX) :]
        remove_existing(pfd, target, keep_dir=False)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
        os.chown(target, ti.uid, ti.gid, dir_fd=pfd, follow_symlinks=False)


def _apply_member(
    root_fd: int, parents: ParentCache, reader: TarReader, ti: tarfile.TarInfo,
    parts: tuple[str, ...],
) -> None:  # fmt: skip
    base = parts[-1]
    if ti.islnk():
        # Hardlink targets must already be inside this layer; resolve them just as safely.
        target = clean_name(ti.linkname)
        if not target:
            raise InvalidParameter(f"invalid hardlink {ti.name!r} -> {ti.linkname!r}")
        tpfd = _open_dir(root_fd, target[:-1], create=False)
        try:
            pfd = parents.get(parts[:-1])
            remove_existing(pfd, base, keep_dir=False)
            os.link(target[-1], base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError as e:
            raise InvalidParameter(f"hardlink target {ti.linkname!r} not found") from e
        finally:
            os.close(tpfd)
        return
    pfd = parents.get(parts[:-1])
    if ti.isreg():
        _write_file(pfd, base, ti, reader)
        return
    remove_existing(pfd, base, keep_dir=ti.isdir())
    if ti.isdir():
        with contextlib.suppress(FileExistsError):
            os.mkdir(base, 0o700, dir_fd=pfd)
    elif ti.issym():
        os.symlink(ti.linkname, base, dir_fd=pfd)
    elif not make_node(pfd, base, ti):
        log.warning("skipping tar entry %s of unsupported type %r", ti.name, ti.type)
        return
    _apply_meta(pfd, base, ti)


def apply_tar(stream: BinaryIO, dest: Path) -> int:
    """Unpack a layer tar into `dest` (an overlay diff/ dir), converting `.wh.` entries to overlay
    whiteouts. Reads the stream once, front to back. Returns the number of entries applied."""
    root_fd = os.open(dest, DIR_FLAGS)
    parents = ParentCache(lambda parts, create: _open_dir(root_fd, parts, create))
    dir_times: list[tuple[tuple[str, ...], float]] = []
    count = 0
    try:
        reader = TarReader(stream)
        for ti in reader:
            parts = clean_name(ti.name)
            if not parts:
                continue  # "./": the layer root keeps its own metadata
            base = parts[-1]
            if base.startswith(WHITEOUT_PREFIX):
                if base[len(WHITEOUT_PREFIX) :] in ("", ".", ".."):
                    raise InvalidParameter(f"invalid whiteout name {ti.name!r}")
                _apply_whiteout(parents, parts, ti)
            else:
                _apply_member(root_fd, parents, reader, ti, parts)
                if ti.isdir():
                    dir_times.append((parts, ti.mtime))
            count += 1
        parents.close()
        # Directory mtimes last: creating entries inside a directory bumps its mtime.
        for parts, mtime in reversed(dir_times):
            pfd = _open_dir(root_fd, parts[:-1], create=False)
            try:
                ns = int(mtime * 1_000_000_000)
                os.utime(parts[-1], ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd)
    finally:
        parents.close()
        os.close(root_fd)
    return count
