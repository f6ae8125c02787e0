"""Tar streams for `cp` (S11): Docker's copy semantics, not layer semantics.

Unlike storage/archive.py (layers), `.wh.` names are plain files here, and extraction follows
go-archive's Untar as used by `docker cp`: an existing entry is replaced unless both are
directories, `no_overwrite_dir_non_dir` turns a dir/non-dir swap into an error, ownership comes
from the tar (or `chown`, for `cp -a`), and a relative symlink that would point above the
extraction root is refused. Every directory is reached through an `Opener`, which walks
component by component with O_NOFOLLOW (and, for a container, switches to a mount's source at
its destination), so neither `..`, an absolute name nor a symlink (planted before or during the
copy) makes us read or write outside the tree the opener exposes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import secrets
import shutil
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.crashpoints import crashpoint
from dockyard.errors import InvalidParameter
from dockyard.storage.archive import clean_name
from dockyard.storage.beneath import ParentCache, make_node
from dockyard.storage.tarstream import TarReader

# Open the directory at `parts` below the extraction root; `create` makes missing ones (0755).
Opener = Callable[[tuple[str, ...], bool], int]

_CHUNK = 1 << 20

# ---- extraction -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractOptions:
    no_overwrite_dir_non_dir: bool = False
    chown: tuple[int, int] | None = None  # `cp -a` into a container: the container user's ids
    lchown: bool = True  # False on the client side (files belong to the invoking user)
    root_name: str = "."  # how errors name the extraction root
    rename: Callable[[str], str] | None = None  # the client's rebase of the top entry


class Journal:
    """What an extraction changed, so a refused archive changes nothing (#17, R1): the entries
    it created (implicit parent directories included) and the entries it replaced, which are
    renamed aside (`.dockyard-cp-<pid>-<n>`) instead of removed. `commit()` drops the set-aside
    entries; `rollback()` removes what was created, newest first, and renames the old entries
    back. Metadata merged into directories that existed before is not undone."""

    def __init__(self, open_dir: Opener) -> None:
        self.open_dir = open_dir
        self.created: list[tuple[str, ...]] = []
        self.aside: list[tuple[tuple[str, ...], str]] = []  # (entry's parts, its temp name)

    def opener(self, parts: tuple[str, ...], create: bool) -> int:
        """`open_dir`, recording the directories `create` makes (the opener's own checks, such
        as a read-only mount's, still run: it is always the one that opens)."""
        if not create:
            return self.open_dir(parts, False)
        have = len(parts)
        while have > 0 and not self._exists(parts[:have]):
            have -= 1
        fd = self.open_dir(parts, True)
        self.created.extend(parts[:i] for i in range(have + 1, len(parts) + 1))
        return fd

    def _exists(self, parts: tuple[str, ...]) -> bool:
        try:
            os.close(self.open_dir(parts, False))
        except FileNotFoundError:
            return False
        return True

    def set_aside(self, pfd: int, parts: tuple[str, ...]) -> None:
        temp = f".dockyard-cp-{os.getpid()}-{len(self.aside)}"
        os.rename(parts[-1], temp, src_dir_fd=pfd, dst_dir_fd=pfd)
        self.aside.append((parts, temp))

    def commit(self) -> None:
        for parts, temp in self.aside:
            self._remove(parts[:-1], temp)

    def rollback(self) -> None:
        for parts in reversed(self.created):
            with contextlib.suppress(OSError):
                self._remove(parts[:-1], parts[-1])
        for parts, temp in reversed(self.aside):
            with contextlib.suppress(OSError):
                pfd = self.open_dir(parts[:-1], False)
                try:
                    os.rename(temp, parts[-1], src_dir_fd=pfd, dst_dir_fd=pfd)
                finally:
                    os.close(pfd)

    def _remove(self, parent: tuple[str, ...], name: str) -> None:
        pfd = self.open_dir(parent, False)
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=pfd)
            else:
                os.unlink(name, dir_fd=pfd)
        finally:
            os.close(pfd)


def _breakout(link: str, parts: tuple[str, ...]) -> bool:
    """go-archive's rule: a relative target joined with the entry's directory must stay inside
    the extraction root (absolute targets are resolved inside the view, never on the host)."""
    if link.startswith("/"):
        return False
    depth = len(parts) - 1
    for comp in link.split("/"):
        if comp == "..":
            depth -= 1
            if depth < 0:
                return True
        elif comp not in ("", "."):
            depth += 1
    return False


def _existing(pfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _xattrs(ti: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    return [
        (key[13:], value.encode("utf-8", "surrogateescape"))
        for key, value in ti.pax_headers.items()
        if key.startswith("SCHILY.xattr.") and not key.startswith("SCHILY.xattr.trusted.overlay.")
    ]


def _write_file(pfd: int, parts: tuple[str, ...], tr: TarReader, ti: tarfile.TarInfo,
                shown: str, opts: ExtractOptions, j: Journal | None) -> None:  # fmt: skip
    """A regular file, written as an unnamed O_TMPFILE inode in its directory and linked in
    under its name only once complete (an old entry is removed then), so a copy cut short (the
    daemon killed, the client gone) never leaves a truncated file under a real name; it also
    leaves nothing to clean up, as the kernel frees an unlinked inode with its last fd. Where
    the filesystem has no O_TMPFILE (overlayfs before Linux 6.6, Debian 12's), the file is
    written under a temp name beside it (TEMP_PREFIX) and renamed in once complete; a daemon
    killed meanwhile leaves that name, never a truncated file under the real one. Metadata is
    set through the open fd: no further path lookups per file."""
    temp = ""
    try:
        fd = os.open(".", os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o600, dir_fd=pfd)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise
        temp = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600, dir_fd=pfd)
    try:
        tr.copy_to(fd, ti.size)
        if opts.chown is not None:
            os.fchown(fd, *opts.chown)
        elif opts.lchown:
            os.fchown(fd, ti.uid, ti.gid)
        os.fchmod(fd, ti.mode & 0o7777)  # after chown, which clears setuid
        for key, value in _xattrs(ti):
            with contextlib.suppress(OSError):  # unsupported or not permitted: Docker ignores
                os.setxattr(fd, key, value)
        ns = int(ti.mtime * 1e9)
        os.utime(fd, ns=(ns, ns))
        crashpoint("cp.after-write", parent=True)  # in the extractor process
        if temp:
            _rename_in(temp, pfd, parts, ti, shown, opts, j)
            temp = ""
        else:
            _link_in(fd, pfd, parts, ti, shown, opts, j)
    finally:
        os.close(fd)
        if temp:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=pfd)


# The temp name of a file being copied in where O_TMPFILE is missing.
TEMP_PREFIX = ".dockyard-cp-"


def _rename_in(temp: str, pfd: int, parts: tuple[str, ...], ti: tarfile.TarInfo, shown: str,
               opts: ExtractOptions, j: Journal | None) -> None:  # fmt: skip
    """rename(2) replaces a file or symlink at once; a directory in the way, or any old entry
    when journaled (set aside to be put back), is _place's."""
    old = _existing(pfd, parts[-1])
    if old is not None and (stat.S_ISDIR(old.st_mode) or opts.no_overwrite_dir_non_dir
                            or j is not None):  # fmt: skip
        _place(pfd, parts, ti, shown, opts, j)
    os.rename(temp, parts[-1], src_dir_fd=pfd, dst_dir_fd=pfd)
    if j is not None:
        j.created.append(parts)


def _link_in(fd: int, pfd: int, parts: tuple[str, ...], ti: tarfile.TarInfo, shown: str,
             opts: ExtractOptions, j: Journal | None) -> None:  # fmt: skip
    source = f"/proc/self/fd/{fd}"
    try:
        os.link(source, parts[-1], dst_dir_fd=pfd, follow_symlinks=True)
    except FileExistsError:
        _place(pfd, parts, ti, shown, opts, j)
        os.link(source, parts[-1], dst_dir_fd=pfd, follow_symlinks=True)
    if j is not None:
        j.created.append(parts)


def _meta(pfd: int, name: str, ti: tarfile.TarInfo, opts: ExtractOptions) -> None:
    if opts.chown is not None:
        os.chown(name, *opts.chown, dir_fd=pfd, follow_symlinks=False)
    elif opts.lchown:
        os.chown(name, ti.uid, ti.gid, dir_fd=pfd, follow_symlinks=False)
    if not ti.issym():
        os.chmod(name, ti.mode & 0o7777, dir_fd=pfd)  # after chown, which clears setuid
    for key, value in _xattrs(ti):
        with contextlib.suppress(OSError):  # unsupported or not permitted: Docker ignores too
            os.setxattr(f"/proc/self/fd/{pfd}/{name}", key, value, follow_symlinks=False)
    if not ti.isdir():
        ns = int(ti.mtime * 1e9)
        os.utime(name, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)


def _place(pfd: int, parts: tuple[str, ...], ti: tarfile.TarInfo, shown: str,
           opts: ExtractOptions, j: Journal | None) -> bool:  # fmt: skip
    """Make room for the entry: an existing one goes (set aside when journaled), unless both
    are directories. True: the entry is new (nothing was there, or the old one went)."""
    name = parts[-1]
    old = _existing(pfd, name)
    if old is None:
        return True
    old_dir = stat.S_ISDIR(old.st_mode)
    if opts.no_overwrite_dir_non_dir:
        if old_dir and not ti.isdir():
            raise InvalidParameter(
                f'cannot overwrite directory "{shown}" with non-directory "{ti.name}"'
            )
        if not old_dir and ti.isdir():
            raise InvalidParameter(
                f'cannot overwrite non-directory "{shown}" with directory "{ti.name}"'
            )
    if old_dir and ti.isdir():
        return False
    if j is not None:
        j.set_aside(pfd, parts)
    elif old_dir:
        shutil.rmtree(name, dir_fd=pfd)
    else:
        os.unlink(name, dir_fd=pfd)
    return True


def _create(pfd: int, name: str, ti: tarfile.TarInfo, open_dir: Opener) -> bool:
    """Any entry but a regular file (see _write_file); False: no metadata to apply."""
    if ti.isdir():
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=pfd)
    elif ti.issym():
        os.symlink(ti.linkname, name, dir_fd=pfd)
    elif ti.islnk():
        target = clean_name(ti.linkname)
        if not target:
            raise InvalidParameter(f"invalid hardlink {ti.name!r} -> {ti.linkname!r}")
        tfd = open_dir(target[:-1], False)
        try:
            os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)
        return False  # a hardlink shares its target's metadata
    elif not make_node(pfd, name, ti):
        return False  # unknown types are skipped, as go-archive does
    return True


def extract(stream: BinaryIO | int, open_dir: Opener, opts: ExtractOptions,
            atomic: bool = False) -> int:  # fmt: skip
    """Unpack a `cp` tar below the root `open_dir` exposes (`stream`: a file object, or a raw
    fd such as a pipe, which lets file data bypass Python). Returns the number of entries.
    `atomic`: a failure undoes what the extraction did (Journal) before it is raised."""
    j = Journal(open_dir) if atomic else None
    try:
        count = _extract(stream, j.opener if j else open_dir, opts, j)
    except BaseException:
        if j is not None:
            j.rollback()
        raise
    if j is not None:
        j.commit()
    return count


def _extract(stream: BinaryIO | int, open_dir: Opener, opts: ExtractOptions,
             j: Journal | None) -> int:  # fmt: skip
    count = 0
    dir_times: list[tuple[tuple[str, ...], float]] = []
    parents = ParentCache(open_dir)
    try:
        tr = TarReader(stream)
        for ti in tr:
            if opts.rename is not None:
                ti.name = opts.rename(ti.name)
                if ti.islnk():
                    ti.linkname = opts.rename(ti.linkname)
            try:
                parts = clean_name(ti.name)
            except InvalidParameter:
                raise InvalidParameter(
                    f"invalid path: {ti.name!r}: path escapes the extraction root"
                ) from None
            if ti.issym() and _breakout(ti.linkname, parts or (".",)):
                shown = posixpath.join(opts.root_name, *parts)
                raise InvalidParameter(f'invalid symlink "{shown}" -> "{ti.linkname}"')
            count += 1
            if not parts:
                if ti.isdir():  # "./": the root itself takes the entry's metadata
                    rfd = open_dir((), False)
                    try:
                        _meta(rfd, ".", ti, opts)
                    finally:
                        os.close(rfd)
                    dir_times.append(((), ti.mtime))
                continue
            parents.forget_below(parts)  # the entry may replace a cached directory
            pfd = parents.get(parts[:-1])
            name = parts[-1]
            shown = posixpath.join(opts.root_name, *parts)
            if ti.isreg():
                _write_file(pfd, parts, tr, ti, shown, opts, j)
                continue
            new = _place(pfd, parts, ti, shown, opts, j)
            made = _create(pfd, name, ti, open_dir)
            if new and j is not None:
                j.created.append(parts)
            if made:
                _meta(pfd, name, ti, opts)
            if ti.isdir():
                dir_times.append((parts, ti.mtime))
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidParameter(f"cannot extract through a symlink or non-directory: {e}") from e
        raise
    finally:
        parents.close()
    # Directory times last: creating entries inside a directory bumps its mtime.
    for parts, mtime in reversed(dir_times):
        fd = open_dir(parts, False)
        try:
            ns = int(mtime * 1e9)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)
    return count
