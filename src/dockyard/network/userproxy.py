"""The userland proxy for ports published on [::1] (N2, D-dpy6-4): `dockyard-proxy`, a small C
relay (proxy/proxy.c, built like the shim) per published port, accepting on the socket the
daemon bound and listens on, connecting each client to the container's address. Python never
sees the traffic; the proxy dies with its port's release or with the daemon."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.runtime.shimbuild import ensure_binary

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "proxy" / "proxy.c"


def binary(bin_dir: Path) -> Path:
    return ensure_binary(bin_dir, SOURCE, "dockyard-proxy")


_lifeline: tuple[int, int] | None = None


def lifeline() -> int:
    """The read end of the daemon's lifeline pipe: its write end stays open (and is inherited
    by no child) for as long as the daemon process lives; a proxy exits on its EOF."""
    global _lifeline
    if _lifeline is None:
        _lifeline = os.pipe()  # both ends close-on-exec; pass_fds hands the read end over
    return _lifeline[0]


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, binary: Path, listener: socket.socket, ip: str, port: int) -> Proxy:
        fd, life = listener.fileno(), lifeline()
        proc = subprocess.Popen([str(binary), str(fd), str(life), ip, str(port)],
                                pass_fds=(fd, life), stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        log.debug("userland proxy %d: %s -> %s:%d", proc.pid, listener.getsockname(), ip, port)
        return cls(proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
