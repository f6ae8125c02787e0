"""What a daemon that replaces itself (recycle.py) hands to its successor across execve(2).

A recycle keeps the process: same pid, same children, same parent. What must not break for the
clients is handed over: open descriptors by name (the API's listening socket, so connections made
meanwhile wait in its backlog; the embedded DNS server's sockets, so containers' queries wait in
them; the data-root lock and the ownership locks, so no other daemon can take them in between)
and a small JSON state (the event ring, finished exec instances, the dashboard's token).

Lifecycle:
    predecessor: h = Handover(); h.keep(name, fd) ...; h.state[key] = ...; h.exec(argv) (never
                 returns: the process image is replaced)
    successor:   h = received() (None when the daemon was started afresh); h.take(name) -> fd or None, close-on-exec again; h.state;
                 h.close_rest() once start-up is done: what no one took (a container that exited
                 meanwhile) is closed.

The descriptors and the state travel in a memfd whose number is in $DOCKYARD_HANDOVER; the
variable is removed from the environment at once, so nothing the daemon starts inherits it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable
from typing import Any

ENV = "DOCKYARD_HANDOVER"
# Handed-over descriptors are renumbered at or above this (fds.py: low numbers stay free for
# the libraries that select()).
_HIGH = 1024


class Handover:
    def __init__(self, fds: dict[str, int] | None = None, state: dict[str, Any] | None = None):
        self._fds: dict[str, int] = dict(fds or {})
        self.state: dict[str, Any] = dict(state or {})

    # ---- the predecessor's side -----------------------------------------------------------

    def keep(self, name: str, fd: int) -> None:
        """Hand over a duplicate of `fd` (the caller may close its own); kept open across exec."""
        try:
            dup = fcntl.fcntl(fd, fcntl.F_DUPFD, _HIGH)
        except OSError:  # no room up there: any number
            dup = os.dup(fd)
            os.set_inheritable(dup, True)
        old = self._fds.pop(name, None)
        if old is not None:
            os.close(old)
        self._fds[name] = dup

    def keeper(self, prefix: str) -> Callable[[str, int], None]:
        """`keep` under `prefix`: what `take_prefix(prefix)` gives back by the rest of the name."""
        return lambda name, fd: self.keep(prefix + name, fd)

    def names(self) -> list[str]:
        return list(self._fds)

    def exec(self, argv: list[str]) -> None:
        """Replace the process with `argv` (argv[0] is the executable's path). Only what was
        kept, the memfd and stdio cross: a library's descriptor opened without close-on-exec
        (libnftables' netlink socket) would otherwise leak into every successor."""
        memfd = os.memfd_create("dockyard-handover", 0)  # inheritable: the successor reads it
        os.write(memfd, json.dumps({"fds": self._fds, "state": self.state}).encode())
        crossing = {0, 1, 2, memfd, *self._fds.values()}
        for name in os.listdir("/proc/self/fd"):
            if int(name) not in crossing:
                with contextlib.suppress(OSError):  # the listing's own, closed by now
                    os.set_inheritable(int(name), False)
        os.environ[ENV] = str(memfd)
        os.execv(argv[0], argv)

    def abandon(self) -> None:
        """Close what was kept: a stop came instead of the recycle."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    # ---- the successor's side -------------------------------------------------------------

    def take(self, name: str) -> int | None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.set_inheritable(fd, False)
        return fd

    def take_prefix(self, prefix: str) -> dict[str, int]:
        """Every descriptor whose name starts with `prefix`, by the rest of its name."""
        taken = {}
        for name in self.names():
            fd = self.take(name) if name.startswith(prefix) else None
            if fd is not None:
                taken[name.removeprefix(prefix)] = fd
        return taken

    def close_rest(self) -> None:
        """Close what no one took."""
        self.abandon()


_received: Handover | None = None
_read = False


def received() -> Handover | None:
    """The predecessor's handover, read from $DOCKYARD_HANDOVER at the first call (the same
    object after); None when there was none."""
    global _received, _read
    if _read:
        return _received
    _read = True
    raw = os.environ.pop(ENV, "")
    if not raw.isdigit():
        return None
    memfd = int(raw)
    try:
        data = b""
        while chunk := os.pread(memfd, 1 << 20, len(data)):
            data += chunk
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.close(memfd)
    body = json.loads(data)
    _received = Handover({k: int(v) for k, v in body["fds"].items()}, body["state"])
    return _received
