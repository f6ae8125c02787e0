"""Building the network service from the daemon's flags (called once, by engine.py)."""

from __future__ import annotations

import logging
from ipaddress import IPv4Interface

from dockyard import errors
from dockyard.config import Config
from dockyard.core import timefmt
from dockyard.network import ipam
from dockyard.network.bridge import BridgeDriver
from dockyard.network.context import Lookup
from dockyard.network.records import NetworkRepo
from dockyard.network.service import Networks
from dockyard.state.db import Database

log = logging.getLogger(__name__)


def build_networks(
    cfg: Config,
    db: Database,
    bridge: str,
    bip: str,
    pools: tuple[str, ...],
    iptables: bool,
    lookup: Lookup,
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
    driver = BridgeDriver(bridge, gateway, parsed, firewall=iptables)
    return Networks(NetworkRepo(db), driver, cfg.exec_root / "netns", lookup, timefmt.rfc3339_fixed)
