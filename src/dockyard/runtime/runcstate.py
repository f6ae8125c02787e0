"""runc's on-disk container state, used directly on the two hot steps of every container's life.

`runc start` and `runc delete` of an exited container each cost a Go process start (~6 ms here)
for work that is a few syscalls; a `docker run --rm` pays both on its critical path. runc's state
layout under `--root` has been stable since runc 1.0 (D-eng-2):

    <root>/<id>/state.json   init_process_pid, init_process_start, cgroup_paths {subsystem: path}
    <root>/<id>/exec.fifo    only while "created": runc init blocks writing it until a reader
                             opens it; reading it to EOF releases the exec; removing it marks
                             the container "running" for runc's own status checks

Both helpers only take the fast path when it is unambiguous and report False otherwise, so the
caller runs the real runc command (which also covers hooks, which dockyard's specs never set).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import time
from pathlib import Path
from typing import Any

EXEC_FIFO = "exec.fifo"
START_TIMEOUT = 10.0


def load(root: Path, id: str) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((root / id / "state.json").read_bytes())
    except (OSError, ValueError):
        return None
    return state


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (after the parenthesised comm), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[1].split()
    return int(fields[19])


def init_alive(state: dict[str, Any]) -> bool:
    """Is the container's init still the process runc started (pid reuse checked by start time)?"""
    pid = int(state.get("init_process_pid") or 0)
    if pid <= 0:
        return False
    started = _start_time(pid)
    if started is None:
        return False
    # A zombie init is dead for our purposes; its reaper (the shim) has simply not run yet.
    with contextlib.suppress(OSError):
        if b") Z " in Path(f"/proc/{pid}/stat").read_bytes():
            return False
    return started == int(state.get("init_process_start") or 0)


def release_created(root: Path, id: str, timeout: float = START_TIMEOUT) -> bool:
    """Do what `runc start` does for a created container: read exec.fifo to EOF, remove it.
    False when there is no fifo (not in the created state: let runc say why)."""
    fifo = root / id / EXEC_FIFO
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    data = b""
    try:
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"container {id}: init did not take the start signal")
            events = poller.poll(min(left, 0.1) * 1000)
            if not events:
                state = load(root, id)
                if state is None or not init_alive(state):
                    break  # init died before it could be released: nothing will write
                continue
            try:
                chunk = os.read(fd, 64)
            except BlockingIOError:
                continue
            if not chunk:
                if data:
                    break  # the writer closed its end: init has exec'd the process
                # EOF before any byte: the writer has not opened yet (a FIFO without writers)
                time.sleep(0.0005)
                continue
            data += chunk
    finally:
        os.close(fd)
    if not data:
        return False  # runc reports "container process is already dead" or similar
    with contextlib.suppress(FileNotFoundError):
        os.unlink(fifo)
    return True


def oom_kills(state: dict[str, Any]) -> int:
    """The memory cgroup's OOM-kill count (cgroup v1 memory.oom_control, v2 memory.events)."""
    paths: dict[str, str] = state.get("cgroup_paths") or {}
    candidates = []
    if paths.get("memory"):
        candidates.append((Path(paths["memory"]) / "memory.oom_control", "oom_kill"))
    if paths.get(""):
        candidates.append((Path(paths[""]) / "memory.events", "oom_kill"))
    for path, key in candidates:
        with contextlib.suppress(OSError, ValueError):
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    return 0


def remove_stopped(root: Path, id: str, state: dict[str, Any]) -> bool:
    """Do what `runc delete` does for a container whose init is gone: remove its cgroups and its
    state dir. False (nothing removed but empty cgroups) when a cgroup still holds processes,
    e.g. with the host's pid namespace: `runc delete --force` must kill them first."""
    if init_alive(state):
        return False
    paths = sorted(set((state.get("cgroup_paths") or {}).values()))
    for path in paths:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            if e.errno in (errno.EBUSY, errno.ENOTEMPTY):
                return False
            raise
    _rmtree(root / id)
    return True


def _rmtree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        os.rmdir(path)
