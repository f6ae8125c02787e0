"""What the network collaborators share (N1-N6): the stored rows, the default bridge and the user
networks' drivers, the host ports held, the DNS names and server, and the container side they
ask (lookup, save, the per-container lock). One object, built once by Networks and handed to
each collaborator; nothing else is shared between them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.core.container import ContainerRecord
from dockyard.network.bridge import BridgeDriver
from dockyard.network.dns.names import NameTable
from dockyard.network.dns.server import DnsServer
from dockyard.network.ports import PortReservations
from dockyard.network.records import NetworkRepo, NetworkRow

Lookup = Callable[[str], ContainerRecord]
Publish = Callable[[str, str, str, dict[str, str]], None]  # EventBus.publish


def _no_events(type: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
    pass


@dataclass
class NetworkContext:
    repo: NetworkRepo
    driver: BridgeDriver  # the default bridge
    netns_root: Path
    lookup: Lookup
    save: Callable[[ContainerRecord], None]  # the container store's
    lock_for: Callable[[str], AbstractContextManager[Any]]  # a container's lifecycle lock
    now: Callable[[], str]
    ports: PortReservations = field(default_factory=PortReservations)
    user_drivers: dict[str, BridgeDriver] = field(default_factory=dict)  # network id -> driver
    names: NameTable = field(default_factory=NameTable)
    dns: DnsServer = field(init=False)
    publish: Publish = _no_events
    swarm_active: Callable[[], bool] = lambda: False  # set by the swarm service (overlay)

    def __post_init__(self) -> None:
        self.dns = DnsServer(self.names)

    def driver_of(self, network_id: str) -> BridgeDriver:
        return self.user_drivers.get(network_id) or self.driver

    def event(self, row: NetworkRow, action: str, container: str | None = None) -> None:
        """A network event as dockerd's: Actor.ID the network's id, `name` and `type` (the
        driver: bridge, host, null), `container` on connect and disconnect."""
        attrs = {"container": container} if container else {}
        attrs.update(name=row.name, type=row.driver)
        self.publish("network", action, row.id, attrs)

    def joined(self, rec: ContainerRecord, action: str) -> None:
        """connect/disconnect events for every network in the container's NetworkSettings."""
        for name in (rec.doc.get("NetworkSettings") or {}).get("Networks") or {}:
            row = self.repo.by_name(name)
            if row is not None:
                self.event(row, action, rec.id)

    def netns_path(self, rec: ContainerRecord) -> Path:
        return self.netns_root / rec.id[:12]
