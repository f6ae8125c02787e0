"""Inode flags on dockyard's own directories (S1, E5).

`mark_top_dir` sets FS_TOPDIR_FL (`chattr +T`) on a directory whose children are independent
trees (overlay2's layer directories, volumes). ext4's Orlov allocator then places each child in
a block group of its own choosing, with free inodes to spare, instead of next to its siblings.
Without it, a layer extracted right after another was removed (a cold pull after `rmi`, a build
after a prune) gets its inodes in the group that holds the freshly freed ones, and ext4 skips
every inode freed in the last minute one by one on each allocation: on this project's test host
that made creating a layer's 2,048 small files take 0.7-2.8 s instead of 0.03 s. Filesystems
without the flag (xfs, btrfs, tmpfs) refuse or ignore it, which changes nothing.
"""

from __future__ import annotations

import array
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def mark_top_dir(path: Path) -> bool:
    """Set FS_TOPDIR_FL on `path`; False where the filesystem does not have it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        if flags[0] & FS_TOPDIR_FL:
            return True
        flags[0] |= FS_TOPDIR_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags, True)
        return True
    except OSError as e:
        log.debug("no top-directory flag on %s: %s", path, e)
        return False
    finally:
        os.close(fd)
