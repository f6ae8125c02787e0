"""Walking below a directory fd without ever following a symlink: the one primitive every tar
extraction (layers, build contexts, cp) stands on, so that neither `..`, an absolute name nor a
symlink planted before or during the walk leads outside the tree."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_below(root_fd: int, parts: tuple[str, ...], create: bool = False) -> int:
    """A new fd on root/parts[0]/.../parts[-1]. A component that is a symlink or not a directory
    raises OSError (ELOOP / ENOTDIR); with `create`, missing directories are made (0755)."""
    fd = os.dup(root_fd)
    try:
        for comp in parts:
            try:
                nfd = os.open(comp, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(comp, 0o755, dir_fd=fd)
                nfd = os.open(comp, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_existing(pfd: int, name: str, keep_dir: bool) -> None:
    """Docker's rule for an entry about to be written: what is there goes, unless both the old
    and the new entry are directories (`keep_dir`)."""
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(name, dir_fd=pfd)
    else:
        os.unlink(name, dir_fd=pfd)


def in_scope(root: Path, rel: str, max_links: int = 255) -> Path:
    """`rel` resolved inside `root` with symlinks followed as if `root` were `/`, so no link or
    `..` leads out (Docker's FollowSymlinkInScope). Missing components are kept as given. More
    than `max_links` links raise OSError(ELOOP)."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        comp = parts.pop(0)
        if comp == "..":
            if resolved:
                resolved.pop()
            continue
        here = root.joinpath(*resolved, comp)
        if here.is_symlink():
            hops += 1
            if hops > max_links:
                raise OSError(errno.ELOOP, f"too many links in {rel}")
            target = os.readlink(here)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(comp)
    return root.joinpath(*resolved)


class ParentCache:
    """The last parent directory opened by an extraction, kept for the next entry (tars list a
    directory's files together): opening every component again was most of a small file's
    syscalls. `open_dir(parts, create)` opens below the extraction root. Holding the fd is
    safe: a directory later swapped for a symlink is still the original one, inside the tree;
    `forget_below` drops it when an entry replaces it or a directory above it.

    Lifecycle: get(parts) -> borrowed fd, valid until the next get/forget_below/close."""

    def __init__(self, open_dir: Callable[[tuple[str, ...], bool], int]) -> None:
        self.open_dir = open_dir
        self.parts: tuple[str, ...] | None = None
        self.fd = -1

    def get(self, parts: tuple[str, ...]) -> int:
        if parts != self.parts:
            self.close()
            self.fd = self.open_dir(parts, True)
            self.parts = parts
        return self.fd

    def forget_below(self, parts: tuple[str, ...]) -> None:
        if self.parts is not None and self.parts[: len(parts)] == parts:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.parts = -1, None


def make_node(pfd: int, name: str, ti: tarfile.TarInfo) -> bool:
    """A device or FIFO entry of a tar, made at `name` in `pfd` (mode fixed by the caller after
    chown); False for any other type."""
    if ti.ischr() or ti.isblk():
        kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
        os.mknod(name, kind | 0o600, os.makedev(ti.devmajor, ti.devminor), dir_fd=pfd)
    elif ti.isfifo():
        os.mkfifo(name, 0o600, dir_fd=pfd)
    else:
        return False
    return True
