"""The tar stream of a path in a container's view (S11, GET /containers/{id}/archive): the
entry itself and, for a directory, everything below it, mounts below it included, in sorted
order; hardlinks as link entries; `security.capability` kept as a PAX xattr. Everything is
opened through the view with O_NOFOLLOW, so a symlink swapped in during the walk ends the
branch (ELOOP) instead of leading out of the container."""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator

from dockyard.services.containers.view import ContainerView, Parts, ViewMount
from dockyard.storage import copytar as ct

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class TreeWalker:
    """Tar entries for a path in the view and, for a directory, everything below it (mounts
    below it included), in sorted order, hardlinks as link entries."""

    def __init__(self, view: ContainerView) -> None:
        self.view = view
        self.seen: dict[tuple[int, int], str] = {}
        self.children: dict[Parts, set[str]] = {}
        for dest in view.mounts:
            if dest:
                self.children.setdefault(dest[:-1], set()).add(dest[-1])

    def entry(self, parts: Parts, name: str) -> Iterator[bytes]:
        m = self.view.mount_at(parts) if parts else self.view.mounts[()]
        if m is not None:
            yield from self._mount_root(m, parts, name)
            return
        pfd = self.view.open_dir(parts[:-1])
        try:
            yield from self._at(pfd, parts[-1], parts, name)
        finally:
            os.close(pfd)

    def _mount_root(self, m: ViewMount, parts: Parts, name: str) -> Iterator[bytes]:
        root = self.view.root_fd(m)
        st = os.fstat(root)
        if stat.S_ISDIR(st.st_mode):
            yield from self._dir(os.dup(root), st, parts, name)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(f"/proc/self/fd/{root}", os.O_RDONLY | os.O_CLOEXEC)
            yield from self._file(fd, name)

    def _at(self, pfd: int, base: str, parts: Parts, name: str) -> Iterator[bytes]:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                fd = os.open(base, _DIR, dir_fd=pfd)
                yield from self._dir(fd, os.fstat(fd), parts, name)
            elif stat.S_ISREG(st.st_mode):
                yield from self._file(os.open(base, _FILE, dir_fd=pfd), name)
            elif stat.S_ISLNK(st.st_mode):
                ti = ct.header(name, st, os.readlink(base, dir_fd=pfd))
                if ti is not None:
                    yield ct.encode(ti)
            else:
                ti = ct.header(name, st)
                if ti is not None:
                    yield ct.encode(ti)
        except (FileNotFoundError, NotADirectoryError):
            return  # removed (or swapped for a symlink: ELOOP is raised) while we walked

    def _dir(self, fd: int, st: os.stat_result, parts: Parts, name: str) -> Iterator[bytes]:
        try:
            ti = ct.header(name, st)
            assert ti is not None
            yield ct.encode(ti)
            names = set(os.listdir(fd)) | self.children.get(parts, set())
            for child in sorted(names):
                cparts, cname = (*parts, child), posixpath.join(name, child)
                m = self.view.mount_at(cparts)
                if m is not None:
                    yield from self._mount_root(m, cparts, cname)
                else:
                    yield from self._at(fd, child, cparts, cname)
        finally:
            os.close(fd)

    def _file(self, fd: int, name: str) -> Iterator[bytes]:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.seen:
            ti = ct.header(name, st)
            assert ti is not None
            ti.type, ti.size, ti.linkname = tarfile.LNKTYPE, 0, self.seen[key]
            os.close(fd)
            yield ct.encode(ti)
            return
        if st.st_nlink > 1:
            self.seen[key] = name
        ti = ct.header(name, st)
        assert ti is not None
        with contextlib.suppress(OSError):
            cap = os.getxattr(fd, "security.capability")
            ti.pax_headers = {
                "SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape")
            }
        yield ct.encode(ti)
        yield from ct.file_blocks(fd, st.st_size)
