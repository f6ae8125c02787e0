"""File descriptors and FD_SETSIZE.

A C library that waits with select() can only watch descriptors numbered below FD_SETSIZE
(1024): libnftables does (mnl_batch_talk), and glibc's fortify check aborts the whole daemon
when the netlink socket it opens is numbered 1024 or more. A daemon running 1,000 containers
holds about three long-lived descriptors for each (the shim's pidfd, the embedded DNS server's
two sockets), so those are moved above the line (`lift`), leaving the low numbers to short-lived
files and to such libraries; a library that selects is opened only while a low number is free
(`low_number_free`)."""

from __future__ import annotations

import fcntl
import os
import socket

FD_SETSIZE = 1024
# Numbers other threads may take between the check and the library's own open().
_MARGIN = 64


def lift(fd: int) -> int:
    """`fd` renumbered to FD_SETSIZE or above (close-on-exec), its old number closed. When the
    open-files limit leaves no room up there, `fd` itself."""
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FD_SETSIZE)
    except OSError:
        return fd
    os.close(fd)
    return high


def lift_socket(sock: socket.socket) -> socket.socket:
    """`sock` (still blocking) as a new socket object on a lifted descriptor."""
    return socket.socket(fileno=lift(sock.detach()))


def low_number_free() -> bool:
    """Whether the next descriptor opened is numbered well below FD_SETSIZE."""
    fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    os.close(fd)
    return fd < FD_SETSIZE - _MARGIN
