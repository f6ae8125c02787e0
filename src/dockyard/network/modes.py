"""Checks of create's Config against the network mode (N4), pure and import-light: the container
service calls them before the image's config is merged in, as dockerd does."""

from __future__ import annotations

from typing import Any

from dockyard import errors


def config_conflicts(config: dict[str, Any], host_config: dict[str, Any]) -> None:
    """What a container:NAME joiner cannot set: its host name and ports are NAME's."""
    if not str(host_config.get("NetworkMode") or "").startswith("container:"):
        return
    if config.get("Hostname"):
        raise errors.InvalidParameter("conflicting options: hostname and the network mode")
    if config.get("ExposedPorts"):
        raise errors.InvalidParameter(
            "conflicting options: port exposing and the container type network mode"
        )
