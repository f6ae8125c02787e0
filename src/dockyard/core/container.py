"""The container record: what the engine keeps of a container (stored by state/containers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ContainerRecord:
    """The stored container. `doc` holds Config, HostConfig, State, Image (ref as given), Path,
    Args, MountId, RestartCount, NetworkSettings, LogPath, HostnamePath, HostsPath,
    ResolvConfPath, ManuallyStopped; everything inspect shows that is not derived."""

    id: str
    name: str  # without the leading "/"
    created: str  # RFC3339Nano
    image_id: str
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, Any]:
        st: dict[str, Any] = self.doc["State"]
        return st

    @property
    def config(self) -> dict[str, Any]:
        c: dict[str, Any] = self.doc["Config"]
        return c

    @property
    def host_config(self) -> dict[str, Any]:
        h: dict[str, Any] = self.doc["HostConfig"]
        return h
