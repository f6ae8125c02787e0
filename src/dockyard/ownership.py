"""Host-wide ownership of what a daemon changes outside its own directories (R1).

Two dockyard daemons on one host must never touch each other's bridge (and the nft table named
after it), cgroup parent, exec root or API socket. Each daemon takes, before it changes
anything, an exclusive flock(2) on one file per such resource under OWNERS_DIR (`/run`: gone at
boot) and holds the fds for its lifetime. A resource whose lock is held is refused with the
holder's pid and data root, and nothing is changed; the kernel drops a killed daemon's locks,
so a restart after a crash takes them back at once, without trusting any pid file.

Lifecycle: `claim(resources, data_root)` at start (raises Held) -> the returned Claims is kept
open while the daemon runs -> `Claims.release()` at exit (or the process ends).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OWNERS_DIR = Path("/run/dockyard-owners")


class Held(Exception):
    """A resource another live daemon holds; the message says which and who."""


@dataclass(frozen=True)
class Resource:
    kind: str  # "bridge", "cgroup parent", "exec root", "socket"
    name: str

    @property
    def file(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)[:64]
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:12]
        return f"{self.kind.replace(' ', '-')}-{safe}-{digest}.lock"


def resources(*, bridge: str | None, cgroup_parent: str | None, exec_root: Path,
              socket: Path) -> list[Resource]:  # fmt: skip
    """What one daemon claims: its default bridge (and so the nft table named after it), its
    cgroupfs parent directory (None with the systemd driver: system.slice is everyone's, and
    each container is a scope of its own), its exec root (runc state, shims' sockets) and its
    API socket."""
    out = [Resource("exec root", str(exec_root.resolve())),
           Resource("socket", str(socket.resolve()))]  # fmt: skip
    if cgroup_parent is not None:
        out.insert(0, Resource("cgroup parent", cgroup_parent.strip("/") or "/"))
    if bridge:
        out.insert(0, Resource("bridge", bridge))
    return out


class Claims:
    def __init__(self, held: list[tuple[int, Path]]) -> None:
        self._held = held

    def hand_over(self, keep: Callable[[str, int], None]) -> None:
        """A recycle (recycle.py): the locks stay held across exec, by their file names."""
        for fd, path in self._held:
            keep(path.name, fd)

    def release(self) -> None:
        """Unlink each lock file while still holding it, then let it go: the files do not pile
        up in OWNERS_DIR (a killed daemon's stay, for the next claim to reuse). A claimer that
        opened a file just before its unlink sees it is no longer the linked one and retries."""
        for fd, path in self._held:
            with contextlib.suppress(OSError):
                if _is_linked(fd, path):
                    path.unlink()
            with contextlib.suppress(OSError):
                os.close(fd)
        self._held = []


def _is_linked(fd: int, path: Path) -> bool:
    """Is the file open at `fd` still the one named `path`?"""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def claim(wanted: list[Resource], data_root: Path, owners: Path = OWNERS_DIR,
          inherited: dict[str, int] | None = None) -> Claims:  # fmt: skip
    """Lock every resource or none: the first one held raises Held, the others taken so far
    are let go again. `inherited`: the locks a recycled predecessor handed over, by file name
    (still ours: the same open files)."""
    owners.mkdir(mode=0o700, parents=True, exist_ok=True)
    held: list[tuple[int, Path]] = []
    inherited = dict(inherited or {})
    try:
        for res in wanted:
            path = owners / res.file
            fd = inherited.pop(res.file, -1)
            if fd < 0 or not _is_linked(fd, path):
                if fd >= 0:
                    os.close(fd)
                fd = _lock(path, res)
            held.append((fd, path))
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n{data_root}\n".encode(), 0)
    except BaseException:
        Claims(held).release()
        raise
    finally:
        for fd in inherited.values():  # a resource no longer wanted
            os.close(fd)
    return Claims(held)


def _lock(path: Path, res: Resource) -> int:
    """The locked fd of the file now named `path` (one unlinked by a releaser between our open
    and our flock is not it: open again)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").split("\n")
            os.close(fd)
            pid = holder[0] if holder and holder[0] else "?"
            root = holder[1] if len(holder) > 1 and holder[1] else "?"
            raise Held(
                f"{res.kind} {res.name} is held by another dockyard daemon (pid {pid}, "
                f"data root {root}); give this one its own (--bridge, --cgroup-parent, "
                f"--exec-root, -H)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _is_linked(fd, path):
            return fd
        os.close(fd)
