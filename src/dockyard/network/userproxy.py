"""The userland proxy for ports published on [::1] (N2, D-dpy6-4): `dockyard-proxy`, a small C
relay (proxy/proxy.c, built like the shim) per published port, accepting on the socket the
daemon bound and listens on, connecting each client to the container's address. Python never
sees the traffic; the proxy dies with its port's release or with the daemon."""

from __future__ import annotations

import logging
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.runtime.shimbuild import ensure_binary

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "proxy" / "proxy.c"


def binary(bin_dir: Path) -> Path:
    return ensure_binary(bin_dir, SOURCE, "dockyard-proxy")


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, binary: Path, listener: socket.socket, ip: str, port: int) -> Proxy:
        fd = listener.fileno()
        proc = subprocess.Popen([str(binary), str(fd), ip, str(port)], pass_fds=(fd,),
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        log.debug("userland proxy %d: %s -> %s:%d", proc.pid, listener.getsockname(), ip, port)
        return cls(proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
