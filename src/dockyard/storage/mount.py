"""The only module that calls mount(2)/umount(2) (DESIGN: one entry module per external effect).

mount(2) and umount2(2) go through ctypes on libc: a syscall costs microseconds where forking
`mount` costs milliseconds, and container start mounts at least once. The `mount` binary is used
for one case only, `mount_relative()`, where overlay lowerdirs must be resolved relative to a
working directory (option strings longer than a page), because changing the cwd of a threaded
daemon is not safe.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import subprocess
import time
from pathlib import Path

from dockyard.errors import System

log = logging.getLogger(__name__)

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _b(s: str | os.PathLike[str] | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    fstype: str | None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    """mount(2); raises errors.System with the errno text on failure."""
    start = time.monotonic()
    rc = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    err = ctypes.get_errno() if rc != 0 else 0
    log.debug(
        "mount(%s, %s, %s, %#x, %s) rc=%d %.1fms",
        source,
        target,
        fstype,
        flags,
        data,
        rc,
        (time.monotonic() - start) * 1000,
    )
    if rc != 0:
        raise System(f"error mounting {source} on {target}: {os.strerror(err)}")


def bind_readonly(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """A read-only bind needs two calls: the kernel ignores MS_RDONLY on the first MS_BIND."""
    mount(source, target, None, MS_BIND)
    try:
        mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    except System:
        unmount(target, MNT_DETACH)
        raise


def unmount(target: str | os.PathLike[str], flags: int = 0) -> None:
    """umount2(2). A busy mount is detached lazily, as Docker's overlay2 Put() does."""
    rc = _libc.umount2(_b(target), flags)
    err = ctypes.get_errno() if rc != 0 else 0
    log.debug("umount2(%s, %#x) rc=%d", target, flags, rc)
    if rc == 0:
        return
    if err == 16 and not flags & MNT_DETACH:  # EBUSY
        unmount(target, flags | MNT_DETACH)
        return
    raise System(f"error unmounting {target}: {os.strerror(err)}")


def hold(path: str | os.PathLike[str]) -> bool:
    """Make `path` a private bind mount of itself (as dockerd's overlay2 driver long did to its
    home, mount.MakePrivate), so that a copy of the mount table can drop everything the daemon
    mounts below it with one umount: the shim's copy for `runc create` does (D-scale-4). True
    when `path` is a mount point now. Not made while something is mounted below `path` (an
    older daemon's running containers): those mounts would stay outside the new one."""
    target = os.path.abspath(os.fspath(path))
    if is_mounted(target):
        return True
    if any(p.startswith(target + "/") for p in mount_points()):
        log.info("%s has mounts below it: runc creates in the host's mount table", target)
        return False
    try:
        mount(target, target, None, MS_BIND)
    except System as e:
        log.warning("%s: runc creates in the host's mount table", e)
        return False
    try:
        mount("none", target, None, MS_PRIVATE)
    except System as e:  # a shared bind would pass our mounts on: not kept
        log.warning("%s: runc creates in the host's mount table", e)
        _libc.umount2(_b(target), MNT_DETACH)
        return False
    return True


def release(path: str | os.PathLike[str]) -> None:
    """Undo `hold` once nothing is mounted below `path` (no container left running); best
    effort, at daemon exit."""
    target = os.path.abspath(os.fspath(path))
    points = mount_points()
    if target in points and not any(p.startswith(target + "/") for p in points):
        _libc.umount2(_b(target), MNT_DETACH)


def mount_relative(cwd: Path, fstype: str, data: str, target: Path) -> None:
    """Mount with option paths resolved against `cwd` (the kernel resolves relative lowerdirs
    against the caller's cwd), through a child process so the daemon's cwd never changes."""
    argv = ["mount", "-t", fstype, "-o", data, fstype, str(target)]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    log.debug(
        "%s (cwd=%s) rc=%d %.1fms", argv, cwd, proc.returncode, (time.monotonic() - start) * 1000
    )
    if proc.returncode != 0:
        raise System(f"error mounting {fstype} on {target}: {proc.stderr.strip()}")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    """Every mount point of this mount namespace, from /proc/self/mountinfo."""
    points: list[str] = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split(" ", 5)
            if len(fields) > 4:
                points.append(_unescape(fields[4]))
    return points


_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_BASIC_STATS = 0x7FF
_STATX_ATTR_MOUNT_ROOT = 0x2000
_STATX_SIZE = 256  # struct statx; stx_attributes at offset 8, stx_attributes_mask at 56
_statx = getattr(_libc, "statx", None)


def _mount_root(path: str) -> bool | None:
    """statx's STATX_ATTR_MOUNT_ROOT (Linux 5.8+): is `path` the root of a mount? None when the
    kernel or libc cannot tell, or the path does not exist."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    flags = _AT_SYMLINK_NOFOLLOW
    if _statx(_AT_FDCWD, os.fsencode(path), flags, _STATX_BASIC_STATS, buf) != 0:
        return False if ctypes.get_errno() == errno.ENOENT else None
    attributes = int.from_bytes(buf.raw[8:16], "little")
    mask = int.from_bytes(buf.raw[56:64], "little")
    if not mask & _STATX_ATTR_MOUNT_ROOT:
        return None
    return bool(attributes & _STATX_ATTR_MOUNT_ROOT)


def is_mounted(path: str | os.PathLike[str]) -> bool:
    """Is something mounted at `path`? One statx call; mountinfo is read only on kernels that
    cannot say (its size grows with every running container)."""
    target = os.path.abspath(os.fspath(path))
    root = _mount_root(target)
    if root is not None:
        return root
    return target in mount_points()


def mounts_under(prefix: str | os.PathLike[str]) -> list[str]:
    """Mount points at or below `prefix` (tests use it to prove nothing was left mounted)."""
    base = os.path.abspath(os.fspath(prefix))
    return [p for p in mount_points() if p == base or p.startswith(base + "/")]
