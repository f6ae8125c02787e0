"""What the network collaborators share (N1-N6): the stored rows, the default bridge and the user
networks' drivers, the host ports held, the DNS names and server, and the container side they
ask (lookup, save, the per-container lock). One object, built once by Networks and handed to
each collaborator; nothing else is shared between them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.core.container import ContainerRecord
from dockyard.network.bridge import BridgeDriver
from dockyard.network.dns.names import NameTable
from dockyard.network.dns.server import DnsServer
from dockyard.network.ports import PortReservations
from dockyard.network.records import NetworkRepo

Lookup = Callable[[str], ContainerRecord]


def no_lock(cid: str) -> AbstractContextManager[Any]:
    return nullcontext()


def _no_save(rec: ContainerRecord) -> None:
    raise RuntimeError("the network service was not bound to the container store")


@dataclass
class NetworkContext:
    repo: NetworkRepo
    driver: BridgeDriver  # the default bridge
    netns_root: Path
    lookup: Lookup
    now: Callable[[], str]
    ports: PortReservations = field(default_factory=PortReservations)
    user_drivers: dict[str, BridgeDriver] = field(default_factory=dict)  # network id -> driver
    names: NameTable = field(default_factory=NameTable)
    dns: DnsServer = field(init=False)
    # The container side, bound once the container service exists (Networks.bind_containers).
    save: Callable[[ContainerRecord], None] = _no_save
    lock_for: Callable[[str], AbstractContextManager[Any]] = no_lock

    def __post_init__(self) -> None:
        self.dns = DnsServer(self.names)

    def driver_of(self, network_id: str) -> BridgeDriver:
        return self.user_drivers.get(network_id) or self.driver

    def netns_path(self, rec: ContainerRecord) -> Path:
        return self.netns_root / rec.id[:12]
