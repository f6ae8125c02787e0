"""Building the network service from the daemon's flags (called once, by engine.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from ipaddress import IPv4Interface
from typing import Any, Protocol

from dockyard import errors
from dockyard.config import Config
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord
from dockyard.network import ipam, spec6, userproxy
from dockyard.network.bridge import BridgeDriver
from dockyard.network.context import Publish
from dockyard.network.records import NetworkRepo
from dockyard.network.service import Networks
from dockyard.state.db import Database

log = logging.getLogger(__name__)


class ContainerStore(Protocol):
    """What the network service asks of the container side (built before it by engine.py)."""

    def resolve(self, ref: str) -> ContainerRecord: ...  # NotFound in Docker's words
    def save(self, rec: ContainerRecord) -> None: ...


def build_networks(
    cfg: Config,
    db: Database,
    bridge: str,
    bip: str,
    pools: tuple[str, ...],
    iptables: bool,
    containers: ContainerStore,
    locks: Callable[[str], AbstractContextManager[Any]],
    publish: Publish | None = None,
    ipv6: bool = False,
    fixed_cidr_v6: str = "",
) -> Networks:
    if len(bridge) > 15:
        raise errors.InvalidParameter(f"bridge name {bridge!r} is longer than 15 characters")
    try:
        gateway = IPv4Interface(bip) if bip else None
    except ValueError:
        raise errors.InvalidParameter(f"invalid --bip {bip!r}") from None
    parsed = tuple(ipam.parse_pool(p) for p in pools) or ipam.DEFAULT_POOLS
    if not iptables:
        log.warning("--iptables=false: no NAT, masquerade or FORWARD rules; published ports "
                    "are reserved but not forwarded (D-net-7)")  # fmt: skip
    v6 = spec6.default_bridge(ipv6, fixed_cidr_v6)
    gw6 = spec6.gateway(spec6.doc(v6, True)) if v6 is not None else None
    driver = BridgeDriver(bridge, gateway, parsed, firewall=iptables, gw6=gw6)
    nets = Networks(NetworkRepo(db), driver, cfg.netns_root, containers.resolve,
                    containers.save, locks, timefmt.rfc3339_fixed, publish)  # fmt: skip
    nets.ctx.ports.proxy_binary = lambda: userproxy.binary(cfg.data_root / "bin")
    return nets
