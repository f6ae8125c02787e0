"""Persistent network namespaces, one per container, bind-mounted at <exec-root>/netns/<id12>
before `runc create` (the OCI spec joins it by path). The daemon owns its lifetime: the
namespace, and with it the container's eth0, outlives the container process until remove()."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2


def create(path: Path) -> None:
    """A fresh namespace pinned by a bind mount at `path`. unshare() runs in a throwaway thread so
    the daemon's own threads never leave the host namespace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o444)
    failure: list[int] = []

    def run() -> None:
        if _libc.unshare(_CLONE_NEWNET) != 0:
            failure.append(ctypes.get_errno())
            return
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if _libc.mount(src, str(path).encode(), None, _MS_BIND, None) != 0:
            failure.append(ctypes.get_errno())

    t = threading.Thread(target=run, name="netns-create")
    t.start()
    t.join()
    if failure:
        path.unlink(missing_ok=True)
        raise OSError(failure[0], f"create network namespace {path}: {os.strerror(failure[0])}")


def remove(path: Path) -> None:
    """Unmount and delete; idempotent."""
    if _libc.umount2(str(path).encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"unmount {path}: {os.strerror(err)}")
    path.unlink(missing_ok=True)


def is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def run_inside(path: Path, fn: Callable[[], None]) -> None:
    """Run fn in a throwaway thread that joined the namespace at `path` (sockets it opens,
    netlink included, belong to that namespace); re-raise what fn raised."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {path}: {os.strerror(err)}")
            finally:
                os.close(fd)
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            failure.append(e)

    t = threading.Thread(target=run, name="netns-run")
    t.start()
    t.join()
    if failure:
        raise failure[0]
