"""Moving bytes between the terminal and a container: demultiplexed output, stdin copied into
a hijacked connection (half-closed on EOF), raw terminal mode and window-size propagation."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

from dockyard.cli.client import Client, Hijacked, frames


def copy_output(
    read: Callable[[int], bytes],
    tty: bool,
    out: BinaryIO | None = None,
    err: BinaryIO | None = None,
) -> None:
    """Write a container's output: raw when it has a TTY, else demultiplex stdout/stderr."""
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    if tty:
        while True:
            chunk = read(32768)
            if not chunk:
                return
            out.write(chunk)
            out.flush()

    def read_exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = read(n - len(buf))
            if not chunk:
                break
            buf += chunk
        return buf

    for stream, payload in frames(read_exact):
        target = err if stream == 2 else out
        target.write(payload)
        target.flush()


def pump_stdin(conn: Hijacked, source: BinaryIO | None = None) -> threading.Thread:
    """Copy our stdin into the container in a background thread; half-close on EOF so the
    container sees EOF too while we keep reading its output."""
    fd = (source or sys.stdin.buffer).fileno()

    def run() -> None:
        try:
            while True:
                data = os.read(fd, 32768)
                if not data:
                    break
                conn.send(data)
        except OSError:
            pass
        finally:
            conn.close_write()

    thread = threading.Thread(target=run, name="stdin", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def raw_terminal(enabled: bool) -> Iterator[None]:
    """Put stdin in raw mode for `-t` sessions and always restore it."""
    if not enabled or not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def send_resize(client: Client, path: str) -> None:
    """POST the terminal size to `<path>/resize` now and on every SIGWINCH."""
    if not sys.stdout.isatty():
        return
    import signal

    def resize(*_: object) -> None:
        try:
            size = os.get_terminal_size(sys.stdout.fileno())
            client.post(f"{path}/resize", {"h": size.lines, "w": size.columns})
        except Exception:  # noqa: BLE001 - a lost resize must never kill the session
            pass

    resize()
    signal.signal(signal.SIGWINCH, resize)


def attach_session(conn: Hijacked, tty: bool, stdin: bool) -> None:
    """Run an attached session until the container's output ends."""
    if stdin:
        pump_stdin(conn)
    try:
        copy_output(conn.recv, tty)
    finally:
        conn.close()
