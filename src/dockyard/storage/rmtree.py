"""Remove a directory tree, never following a symlink, with the fewest system calls.

shutil.rmtree's symlink-safe walk lstat()s and fstat()s every directory to compare the two; an
O_NOFOLLOW|O_DIRECTORY open relative to the parent's fd refuses a symlink (or a directory
swapped for one) by itself, so each directory costs one open, one getdents and one rmdir. On a
container's layer pair that is ~0.4 ms of the 1.4 ms shutil takes (#17: `rm` of 1,000).
"""

from __future__ import annotations

import contextlib
import errno
import os

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _empty(dfd: int) -> None:
    with os.scandir(dfd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        if not is_dir:
            try:
                os.unlink(name, dir_fd=dfd)
                continue
            except IsADirectoryError:  # replaced by a directory since the listing
                pass
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
        except OSError as e:
            if e.errno != errno.ENOTDIR and e.errno != errno.ELOOP:
                raise
            os.unlink(name, dir_fd=dfd)  # replaced by a file or a symlink since the listing
            continue
        try:
            _empty(fd)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=dfd)


def remove_tree(path: str | os.PathLike[str], missing_ok: bool = True) -> None:
    """Delete `path` and everything below it (mount points under it must be gone first).
    A symlink at `path` itself is an error, as with shutil.rmtree."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        _empty(fd)
    finally:
        os.close(fd)
    os.rmdir(path)


def remove_tree_quietly(path: str | os.PathLike[str]) -> None:
    """remove_tree for a best-effort cleanup: errors are ignored (shutil.rmtree's
    ignore_errors), what could not be removed stays."""
    with contextlib.suppress(OSError):
        remove_tree(path)
