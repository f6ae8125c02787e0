"""Where the daemon keeps things. Defaults keep dockyard apart from a dockerd or podman on the
same host (own socket, data root, exec root); every path is overridable for private test daemons."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "24.0.0-dockyard"  # what clients see as the server's Version


def default_host() -> str:
    return os.environ.get("DOCKYARD_HOST") or DEFAULT_HOST


def socket_path(host: str) -> str:
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise ValueError(f"unsupported host {host!r}: only unix:// sockets are served")


@dataclass(frozen=True)
class Config:
    data_root: Path = Path(DEFAULT_DATA_ROOT)
    exec_root: Path = Path(DEFAULT_EXEC_ROOT)
    host: str = DEFAULT_HOST
    log_level: str = "info"
    runtime: str = "runc"
    # What a container gets when its create request leaves it out (dockerd's daemon options):
    init: bool = False  # --init: docker-init (tini) as PID 1 unless HostConfig.Init says no
    init_path: str = ""  # --init-path; "" = Debian's static tini, else docker-init/tini on PATH
    log_driver: str = "json-file"  # --log-driver
    log_opts: tuple[tuple[str, str], ...] = ()  # --log-opt key=value, in the order given

    @property
    def socket(self) -> Path:
        return Path(socket_path(self.host))

    @property
    def db_path(self) -> Path:
        return self.data_root / "dockyard.db"

    @property
    def overlay_root(self) -> Path:
        return self.data_root / "overlay2"

    @property
    def netns_root(self) -> Path:
        """Network namespaces, bind-mounted at `<exec-root>/netns/<id12>` (SandboxKey)."""
        return self.exec_root / "netns"

    @property
    def mount_trees(self) -> tuple[Path, Path]:
        """Where the daemon mounts one thing per container: rootfs overlays, network namespaces.
        Each is a mount of its own while the daemon runs (mount.hold, D-scale-4)."""
        return self.overlay_root, self.netns_root

    @property
    def containers_root(self) -> Path:
        """Per-container files: logs (`<id>/<id>-json.log`, `<id>/local-logs/`), hosts, resolv.conf."""
        return self.data_root / "containers"

    @property
    def content_root(self) -> Path:
        """Blobs by digest (image configs): `content/sha256/<hex>`."""
        return self.data_root / "content"

    @property
    def tmp_root(self) -> Path:
        return self.data_root / "tmp"

    @property
    def runc_root(self) -> Path:
        return self.exec_root / "runc"

    @property
    def bundles_root(self) -> Path:
        """OCI bundles and shim sockets per container: `<exec-root>/containers/<id>/`."""
        return self.exec_root / "containers"

    def ensure_dirs(self) -> None:
        for p in (
            self.data_root,
            self.overlay_root,
            self.containers_root,
            self.content_root,
            self.tmp_root,
            self.exec_root,
            self.runc_root,
            self.bundles_root,
            self.netns_root,
        ):
            p.mkdir(parents=True, exist_ok=True, mode=0o700)
