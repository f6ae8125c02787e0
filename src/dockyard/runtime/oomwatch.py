"""OOM kills on cgroup v2, seen while they happen (E4). A container's `memory.events` says how
many of its processes the OOM killer took, but under the systemd cgroup driver its scope and
cgroup are removed by systemd the moment the container's last process is gone, before the
daemon can read the file at exit. So each running container's `memory.events` is watched with
inotify (the kernel signals every change of it as a modification) and its `oom_kill` count kept
in memory until the exit is recorded. One inotify descriptor serves the daemon, read on its loop.

Lifecycle: `watch(cid, dir)` when a container starts or is re-adopted, `kills(cid)` once at its
exit (which also forgets it)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import struct
import threading
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x2
IN_IGNORED = 0x8000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len


def oom_kills(events_file: Path) -> int | None:
    """The `oom_kill` count in a memory.events file; None when it cannot be read."""
    try:
        for line in events_file.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return 0


class OomWatch:
    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = -1
        self._files: dict[int, tuple[str, Path]] = {}  # watch descriptor -> (cid, file)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()  # the loop drains, exits are recorded on worker threads

    def _ensure(self, loop: asyncio.AbstractEventLoop | None) -> bool:
        if self._fd >= 0:
            return True
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.warning("inotify_init1: %s", os.strerror(ctypes.get_errno()))
            return False
        self._fd = fd
        if loop is not None:
            loop.add_reader(fd, self._drain)
        return True

    def watch(self, cid: str, directory: Path, loop: asyncio.AbstractEventLoop | None) -> None:
        """Follow `directory`/memory.events (a v2 cgroup); a v1 one has none: nothing to do."""
        events = directory / "memory.events"
        first = oom_kills(events)
        if first is None or not self._ensure(loop):
            return
        wd = self._libc.inotify_add_watch(self._fd, bytes(events), IN_MODIFY)
        if wd < 0:
            log.warning("watching %s: %s", events, os.strerror(ctypes.get_errno()))
            return
        with self._lock:
            self._counts[cid] = first
            self._files[wd] = (cid, events)

    def _drain(self) -> None:
        """The loop's reader: read what changed and keep each container's latest count."""
        with self._lock:
            self._drain_locked()

    def _drain_locked(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            except OSError as e:
                log.warning("reading inotify events: %s", e)
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _, name_len = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + name_len
                found = self._files.get(wd)
                if found is None:
                    continue
                if mask & IN_IGNORED:  # the cgroup is gone: its last count stays
                    del self._files[wd]
                    continue
                count = oom_kills(found[1])
                if count is not None:
                    self._counts[found[0]] = max(count, self._counts.get(found[0], 0))

    def kills(self, cid: str) -> int:
        """The OOM kills seen for a container (read once more if its file is still there)."""
        if self._fd < 0:
            return 0
        with self._lock:
            self._drain_locked()
            return self._forget(cid)

    def _forget(self, cid: str) -> int:
        count = self._counts.pop(cid, 0)
        for wd, (owner, events) in list(self._files.items()):
            if owner == cid:
                now = oom_kills(events)
                count = max(count, now or 0)
                with contextlib.suppress(OSError):
                    self._libc.inotify_rm_watch(self._fd, wd)
                del self._files[wd]
        return count
