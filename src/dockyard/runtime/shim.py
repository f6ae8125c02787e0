"""Starting and talking to `dockyard-shim`, the C monitor each container (and exec) runs under.

Lifecycle of a container shim:
    handle = Shim.spawn(...)          # runc create done; container process waits for start
    conn = await connect(sock)        # optional: attach before start loses no output
    Runc(root).start(id)
    code, finished_at = await wait_exit(handle.pid, exit_file)   # also after a daemon restart
    Runc(root).delete(id)             # the shim never deletes

An exec shim (`spawn_exec`) listens first and starts the process when the first client connects
(or at once with `no_wait`); its `ok <pid>` line is read with `ExecShim.wait_started()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard import errors, fds
from dockyard.runtime.logopts import LOCAL, LogSettings

log = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, RESIZE = 0, 1, 2, 3
SYNC_TIMEOUT = 60.0


class RuntimeStartError(errors.System):
    """runc could not create/exec the process; `message` is runc's own error text."""


@dataclass(frozen=True)
class ShimHandle:
    pid: int  # the shim's pid (also in <bundle>/shim.pid)
    container_pid: int  # the container's init on the host


def _args(
    binary: Path,
    id: str,
    bundle: Path,
    runtime: str,
    runtime_root: Path,
    exit_file: Path,
    sock: Path,
    pid_file: Path,
    sync_fd: int,
    log_path: Path | None,
    tty: bool,
    stdin: bool,
    stdin_once: bool,
    log: LogSettings | None = None,
    systemd_cgroup: bool = False,
) -> list[str]:
    argv = [str(binary), "--id", id, "--bundle", str(bundle), "--runtime", runtime]
    argv += ["--runtime-root", str(runtime_root), "--exit-file", str(exit_file)]
    argv += ["--sock", str(sock), "--pid-file", str(pid_file), "--sync-fd", str(sync_fd)]
    if log_path is not None:
        argv += ["--log", str(log_path)]
        log = log or LogSettings()
        if log.driver == LOCAL:  # protobuf frames instead of JSON lines (D-logs-1)
            argv += ["--log-format", "local"]
        if log.max_size > 0:  # rotation (runtime/logopts.py)
            argv += ["--log-max-size", str(log.max_size), "--log-max-files", str(log.max_files)]
            if log.compress and log.max_files > 1:
                argv.append("--log-compress")
    flags = (("--tty", tty), ("--stdin", stdin), ("--stdin-once", stdin_once),
             ("--systemd-cgroup", systemd_cgroup))  # fmt: skip
    argv += [flag for flag, on in flags if on]
    return argv


def _launch(argv: list[str], sync_w: int) -> None:
    started = time.monotonic()
    proc = subprocess.run(argv, pass_fds=(sync_w,), capture_output=True, check=False)
    # The shim forks and its parent exits at once, so this returns before the container starts.
    log.debug("%s rc=%d %.3fs", argv, proc.returncode, time.monotonic() - started)
    if proc.returncode != 0:
        raise errors.System(f"dockyard-shim: {proc.stderr.decode(errors='replace').strip()}")


def _read_line(fd: int, timeout: float = SYNC_TIMEOUT) -> str:
    """One line from the sync pipe; EOF without a line means the shim died."""
    data = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(fd, True)
    poller = select.poll()  # not select(): a daemon with many containers has fds past 1023
    poller.register(fd, select.POLLIN)
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise errors.System("dockyard-shim: timed out waiting for the runtime")
        chunk = os.read(fd, 1)
        if not chunk:
            raise errors.System("dockyard-shim exited without reporting a status")
        data += chunk
    return data.decode(errors="replace").rstrip("\n")


def _parse_sync(line: str) -> int:
    kind, _, rest = line.partition(" ")
    if kind == "ok":
        return int(rest)
    if kind == "error":
        raise RuntimeStartError(rest)
    raise errors.System(f"dockyard-shim: unexpected sync line {line!r}")


def _start(argv_for_fd: Callable[[int], list[str]]) -> tuple[int, str]:
    """Launch a shim with a sync pipe; return the pipe's read end (the caller closes it) and the
    first line the shim wrote on it."""
    sync_r, sync_w = os.pipe()
    try:
        _launch(argv_for_fd(sync_w), sync_w)
        os.close(sync_w)
        sync_w = -1
        return sync_r, _read_line(sync_r)
    except BaseException:
        os.close(sync_r)
        raise
    finally:
        if sync_w >= 0:
            os.close(sync_w)


class Shim:
    @classmethod
    def spawn(
        cls,
        binary: Path,
        id: str,
        bundle: Path,
        runtime: str,
        runtime_root: Path,
        log_path: Path | None,
        exit_file: Path,
        sock: Path,
        *,
        tty: bool,
        stdin: bool,
        stdin_once: bool,
        pid_file: Path | None = None,
        log: LogSettings | None = None,
        systemd_cgroup: bool = False,
        private_trees: Sequence[Path] = (),
        keep: Sequence[str] = (),
    ) -> ShimHandle:
        """Run `runc create` under a new shim; blocks until the container is created. With
        `private_trees`, runc creates in a copy of the mount table without them, `keep` (paths
        below them the spec names) put back (D-scale-4)."""
        pid_file = pid_file or bundle / "init.pid"

        def argv(sync_w: int) -> list[str]:
            base = _args(binary, id, bundle, runtime, runtime_root, exit_file, sock, pid_file,
                         sync_w, log_path, tty, stdin, stdin_once,
                         log, systemd_cgroup)  # fmt: skip
            for tree in private_trees:
                base += ["--private-tree", str(tree)]
            for path in keep:
                base += ["--keep", path]
            return base

        sync_r, line = _start(argv)
        try:
            container_pid = _parse_sync(line)
        finally:
            os.close(sync_r)
        shim_pid = int((bundle / "shim.pid").read_text().strip())
        return ShimHandle(pid=shim_pid, container_pid=container_pid)

    @classmethod
    def spawn_exec(
        cls,
        binary: Path,
        id: str,
        bundle: Path,
        runtime: str,
        runtime_root: Path,
        process_json: Path,
        exit_file: Path,
        sock: Path,
        pid_file: Path | None = None,
        *,
        tty: bool,
        stdin: bool,
        stdin_once: bool = False,
        no_wait: bool = False,
        log_path: Path | None = None,
        systemd_cgroup: bool = False,
    ) -> ExecShim:
        """Start an exec shim; returns once it listens on `sock`. The process starts when the
        first client connects (or at once with `no_wait`): then `wait_started()`/`started()`.
        runc writes the process's pid to `pid_file` (default: next to the exit file)."""
        exec_pid_file = pid_file or exit_file.with_name(exit_file.name + ".pid")

        def argv(sync_w: int) -> list[str]:
            base = _args(binary, id, bundle, runtime, runtime_root, exit_file, sock,
                         exec_pid_file, sync_w, log_path, tty, stdin, stdin_once,
                         systemd_cgroup=systemd_cgroup)  # fmt: skip
            return [*base, "--exec", "--process", str(process_json),
                    *(["--no-wait"] if no_wait else [])]  # fmt: skip

        sync_r, line = _start(argv)
        kind, _, pid = line.partition(" ")
        if kind != "listening":
            os.close(sync_r)
            _parse_sync(line)
            raise errors.System(f"dockyard-shim: unexpected sync line {kind!r}")
        return ExecShim(pid=int(pid), sync_fd=sync_r)


class ExecShim:
    """An exec shim that listens. `wait_started` (blocking) or `started` (async) returns the
    exec'd process's host pid, also kept in `container_pid`, or raises RuntimeStartError."""

    def __init__(self, pid: int, sync_fd: int) -> None:
        self.pid = pid
        self.container_pid = 0
        self._sync_fd = sync_fd

    def wait_started(self, timeout: float = SYNC_TIMEOUT) -> int:
        if self._sync_fd < 0:
            return self.container_pid
        try:
            self.container_pid = _parse_sync(_read_line(self._sync_fd, timeout))
        finally:
            self.close()
        return self.container_pid

    async def started(self, timeout: float = SYNC_TIMEOUT) -> int:
        return await asyncio.to_thread(self.wait_started, timeout)

    def close(self) -> None:
        if self._sync_fd >= 0:
            os.close(self._sync_fd)
            self._sync_fd = -1


def read_exit_file(exit_file: Path) -> tuple[int, str] | None:
    try:
        lines = exit_file.read_text().splitlines()
    except FileNotFoundError:
        return None
    return int(lines[0]), lines[1] if len(lines) > 1 else ""


async def wait_exit(shim_pid: int, exit_file: Path) -> tuple[int, str]:
    """Wait for a shim to exit and return (exit code, finish time RFC3339Nano). Works for a shim
    that is not our child (after a daemon restart) because it watches a pidfd; `shim_pid` 0: a
    shim known to be gone."""
    try:
        pidfd = fds.lift(os.pidfd_open(shim_pid)) if shim_pid > 0 else -1  # one per container
    except ProcessLookupError:
        pidfd = -1
    if pidfd >= 0:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(pidfd, ready)
        try:
            await done
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
    result = read_exit_file(exit_file)
    if result is None:
        # The shim was killed before it could record anything: Docker reports 255 then.
        log.warning("shim %d exited without writing %s", shim_pid, exit_file)
        return 255, ""
    return result


class ShimConn:
    """An attach connection to a shim socket (frames: [type][u32 be length][data])."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read_frame(self) -> tuple[int, bytes] | None:
        """The next output frame (1 stdout, 2 stderr), or None when the shim hung up."""
        try:
            head = await self._reader.readexactly(5)
            data = await self._reader.readexactly(struct.unpack(">I", head[1:])[0])
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return head[0], data

    async def _send(self, kind: int, data: bytes) -> None:
        self._writer.write(struct.pack(">BI", kind, len(data)) + data)
        await self._writer.drain()

    async def write_stdin(self, data: bytes) -> None:
        if data:
            await self._send(STDIN, data)

    async def close_stdin(self) -> None:
        await self._send(STDIN, b"")

    async def resize(self, height: int, width: int) -> None:
        await self._send(RESIZE, struct.pack(">HH", height, width))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


async def connect(sock: Path) -> ShimConn:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    return ShimConn(reader, writer)
