"""First-run experience: when the default socket is missing and we are root, start the daemon
in the background, say so once, and wait for /_ping before the command proceeds. On a host
whose systemd knows dockyard.service (scripts/install puts it there), systemd starts it."""

from __future__ import annotations

import os
import time
from typing import TextIO

from dockyard.cli.client import Client, ConnectError
from dockyard.cli.defaults import socket_path

LOG_PATH = "/var/log/dockyard.log"
PING_DEADLINE = 15.0
UNIT = "dockyard.service"
UNIT_FILE = "/etc/systemd/system/dockyard.service"


def _systemd_unit() -> bool:
    return os.path.isdir("/run/systemd/system") and os.path.exists(UNIT_FILE)


def start_unit() -> bool:
    """`systemctl start dockyard.service`; True when systemd took it."""
    import subprocess

    return subprocess.run(["systemctl", "start", UNIT], check=False).returncode == 0


def spawn_daemon(log_path: str = LOG_PATH) -> int:
    """Start `python -m dockyard daemon` detached from our session; return its pid."""
    import subprocess
    import sys

    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "daemon"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def wait_for_ping(client: Client, deadline: float = PING_DEADLINE, pid: int | None = None) -> bool:
    end = time.monotonic() + deadline
    delay = 0.02
    while time.monotonic() < end:
        try:
            client.ping(timeout=1.0)
            return True
        except ConnectError:
            pass
        if pid is not None and not _alive(pid):
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    return False


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        waited = 0
    if waited == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listening(path: str) -> bool:
    """A socket file left by a daemon that died is not a daemon: only a connect tells."""
    if not os.path.exists(path):
        return False
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def connect(host: str, is_default_host: bool, err: TextIO) -> Client:
    """Return a client for `host`, starting the daemon first when allowed and needed."""
    try:
        path = socket_path(host)
    except ValueError as exc:
        from dockyard.cli.command import CLIError

        raise CLIError(f"dockyard: {exc}") from None
    client = Client(path)
    if is_default_host and os.geteuid() == 0 and not _listening(path):
        if _systemd_unit() and start_unit():
            err.write(f"dockyard: started {UNIT} (journalctl -u dockyard for its log)\n")
            err.flush()
            wait_for_ping(client)
            return client
        pid = spawn_daemon()
        err.write(f"dockyard: started the daemon (pid {pid}, log {LOG_PATH})\n")
        err.flush()
        wait_for_ping(client, pid=pid)
    return client
