"""A container's filesystem as `cp` sees it (S11): the rootfs plus its mounts, reached by fds.

Docker runs cp inside a private mount namespace holding the rootfs and the volumes. We do not
mount anything: a `ContainerView` keeps a table of (destination -> host source) and resolves
every container path itself, so it works the same for created, running and stopped containers
and leaves nothing behind:
    - symlinks are evaluated in the container's scope (Docker's FollowSymlinkInScope: an
      absolute target restarts at the container's "/", `..` stops at "/"), by reading links
      through the view, never through the host's path resolution;
    - the resolved path is then opened component by component from the covering mount's root
      fd with O_NOFOLLOW, so a symlink swapped in after resolution fails (ELOOP) instead of
      leading outside;
    - tmpfs mounts exist only in a running container's mount namespace: they are reached
      through /proc/<pid>/root (walked with O_NOFOLLOW as well); for a stopped container the
      rootfs directory underneath shows, as in Docker.
Lifecycle: `ContainerView(...)` -> any number of lookups -> `close()` (closes the root fds).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from dataclasses import dataclass, field

from dockyard import errors
from dockyard.storage.beneath import open_below

Parts = tuple[str, ...]
_MAX_LINKS = 255


def split(path: str) -> Parts:
    """Lexically clean components of a container path (`..` stops at "/")."""
    out: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if out:
                out.pop()
        else:
            out.append(comp)
    return tuple(out)


def show(parts: Parts) -> str:
    return "/" + "/".join(parts)


@dataclass
class ViewMount:
    destination: Parts
    source: str  # host path; "" with `proc_root` for a running container's tmpfs
    rw: bool
    volume: bool  # a user mount (volume, bind, tmpfs): its own read-only rule and wording
    proc_root: str = ""
    fd: int = field(default=-1, repr=False)


class ContainerView:
    def __init__(self, rootfs: str, rootfs_rw: bool, mounts: list[ViewMount]) -> None:
        root = ViewMount((), rootfs, rootfs_rw, volume=False)
        self.mounts = {m.destination: m for m in [root, *mounts]}

    def close(self) -> None:
        for m in self.mounts.values():
            if m.fd >= 0:
                os.close(m.fd)
                m.fd = -1

    def __enter__(self) -> ContainerView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- mounts -------------------------------------------------------------------------

    def covering(self, parts: Parts) -> ViewMount:
        for n in range(len(parts), -1, -1):
            m = self.mounts.get(parts[:n])
            if m is not None:
                return m
        raise AssertionError("the root mount covers everything")

    def mount_at(self, parts: Parts) -> ViewMount | None:
        return self.mounts.get(parts) if parts else None

    def root_fd(self, m: ViewMount) -> int:
        """The mount's root, opened once: a directory fd, or an O_PATH fd for a file mount."""
        if m.fd < 0:
            if m.proc_root:
                fd = os.open(m.proc_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    m.fd = open_below(fd, m.destination)
                finally:
                    os.close(fd)
            elif os.path.isdir(m.source):
                m.fd = os.open(m.source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            else:
                m.fd = os.open(m.source, os.O_PATH | os.O_CLOEXEC)
        return m.fd

    # ---- lookups --------------------------------------------------------------------------

    def open_dir(self, parts: Parts, create: bool = False, writable: bool = False) -> int:
        """A new fd on the directory at `parts` (the caller closes it). With `create`, missing
        directories are made (0755) inside the mount that covers them."""
        m = self.covering(parts)
        if writable:
            self.check_writable(m)
        return open_below(self.root_fd(m), parts[len(m.destination) :], create)

    def lstat(self, parts: Parts) -> os.stat_result | None:
        """The entry at `parts` without following a final symlink; None when missing."""
        m = self.covering(parts)
        rel = parts[len(m.destination) :]
        try:
            if not rel:
                return os.fstat(self.root_fd(m))
            pfd = open_below(self.root_fd(m), rel[:-1])
            try:
                return os.stat(rel[-1], dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise

    def readlink(self, parts: Parts) -> str:
        m = self.covering(parts)
        rel = parts[len(m.destination) :]
        pfd = open_below(self.root_fd(m), rel[:-1])
        try:
            return os.readlink(rel[-1], dir_fd=pfd)
        finally:
            os.close(pfd)

    def resolve(self, path: str, follow_last: bool) -> Parts:
        """Evaluate symlinks in the container's scope; the last component only if asked.
        Missing components are kept lexically (a copy may create them)."""
        todo = deque(path.split("/"))
        done: list[str] = []
        links = 0
        while todo:
            comp = todo.popleft()
            if comp in ("", "."):
                continue
            if comp == "..":
                if done:
                    done.pop()
                continue
            cand = (*done, comp)
            if not follow_last and not todo:  # "/d/l/" and "/d/l/." do follow l, as Docker
                done.append(comp)
                break
            st = self.lstat(cand)
            if st is None or not stat.S_ISLNK(st.st_mode):
                done.append(comp)
                continue
            links += 1
            if links > _MAX_LINKS:
                raise errors.InvalidParameter(f"too many links in {path}")
            target = self.readlink(cand)
            if target.startswith("/"):
                done = []
            todo.extendleft(reversed(target.split("/")))
        return tuple(done)

    def check_writable(self, m: ViewMount) -> None:
        if m.rw:
            return
        if m.volume:
            raise errors.InvalidParameter("mounted volume is marked read-only")
        raise errors.InvalidParameter("container rootfs is marked read-only")
