"""The daemon defaults the CLI needs at startup, mirrored from dockyard.config so the hot path
skips its dataclass and pathlib imports (a unit test keeps the two in step)."""

from __future__ import annotations

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
API_VERSION = "1.44"


def socket_path(host: str) -> str:
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise ValueError(f"unsupported host {host!r}: only unix:// sockets are served")
