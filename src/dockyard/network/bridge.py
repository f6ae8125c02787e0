"""The bridge driver (N3): the host bridge, its subnet and firewall table, and one veth endpoint
per container.

Lifecycle:
    ensure(stored_subnet)   at daemon start: adopt an existing bridge as it is (never
                            reconfigured), or create one with --bip or a free default pool;
                            load the nft table with the DNAT elements of running containers,
                            and our accepts in the host's FORWARD chain (D-net-6)
    attach(...)             at container start: veth pair, eth0 inside the netns, DNAT elements
    detach(...)             at container exit/rm: idempotent, best effort
    close()                 at test teardown: remove the bridge and table, only if ours
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from pathlib import Path

from dockyard import errors
from dockyard.network import ipam, netlink
from dockyard.network.firewall import elements, forward, nft, ruleset
from dockyard.network.firewall.ruleset import BridgeRules, Dnat, Peer
from dockyard.network.spec import BridgeOptions
from dockyard.rollback import best_effort

log = logging.getLogger(__name__)

VETH_PREFIX = "dyv"


@dataclass(frozen=True)
class BridgeInfo:
    device: str
    subnet: IPv4Network
    gateway: IPv4Address
    ours: bool


def table_name(bridge: str) -> str:
    """One table per daemon instance, named after its bridge, so one daemon's reconcile never
    touches another's rules."""
    return "dockyard" if bridge == "dockyard0" else f"dockyard-{bridge}"


class BridgeDriver:
    def __init__(
        self,
        device: str,
        bip: IPv4Interface | None,
        pools: tuple[ipam.Pool, ...],
        firewall: bool = True,
        internal: bool = False,
        options: BridgeOptions | None = None,
        gw6: IPv6Interface | None = None,
    ) -> None:
        self.device = device
        self.gw6 = gw6  # the bridge's IPv6 address on an IPv6 network
        self.options = options or BridgeOptions()
        self.bip = bip
        self.pools = pools
        self.firewall = firewall
        self.internal = internal
        self.table = table_name(device)
        self.info: BridgeInfo | None = None

    @property
    def alias(self) -> str:
        return f"dockyard:{self.device}"

    def ensure(
        self, stored: IPv4Network | None, dnats: Iterable[Dnat], peers: Iterable[Peer] = ()
    ) -> BridgeInfo:
        current = netlink.link_ipv4(self.device)
        if current is not None:
            ours = netlink.link_alias(self.device) == self.alias
            info = BridgeInfo(self.device, current.network, current.ip, ours)
        elif netlink.link_exists(self.device):
            raise errors.System(f"bridge {self.device} exists but has no IPv4 address")
        else:
            if self.bip is not None:
                gw = self.bip
            else:
                taken = netlink.host_networks()
                if stored is not None and not any(stored.overlaps(t) for t in taken if t.prefixlen):
                    subnet = stored
                else:
                    subnet = ipam.choose_subnet(self.pools, taken)
                gw = IPv4Interface(f"{ipam.gateway_of(subnet)}/{subnet.prefixlen}")
            netlink.create_bridge(self.device, gw, self.alias, self.options.mtu)
            info = BridgeInfo(self.device, gw.network, gw.ip, True)
        netlink.sysctl("net.ipv4.ip_forward", "1")  # dockerd's --ip-forward, on either way
        if self.gw6 is not None:
            netlink.add_address6(self.device, self.gw6)  # idempotent: kept across restarts
        if self.firewall:
            # DNAT of 127.0.0.1 towards the bridge: loopback sources must be routable there.
            netlink.sysctl(f"net.ipv4.conf.{self.device}.route_localnet", "1")
            live = [p for p in peers if netlink.link_exists(p.veth)]
            opts = self.options
            rules = BridgeRules(self.table, self.device, info.subnet, self.internal,
                                masquerade=opts.masquerade, icc=opts.icc)  # fmt: skip
            nft.apply(ruleset.table(rules, dnats) + ruleset.peers_table(self.table, live, opts.icc))
            forward.ensure(self.device, self.internal)
        self.info = info
        return info

    def attach(self, veth: str, netns_path: Path, ip: IPv4Address, mac: str, owner: str,
               dnats: list[Dnat], ifname: str = "eth0", route: bool = True,
               ip6: IPv6Address | None = None) -> None:  # fmt: skip
        """The veth, then its DNAT elements and direct-delivery entry in one nft batch. Only the
        first network of a container (route=True) gives it the default route."""
        info = self._info()
        netlink.add_veth(veth, self.device, netns_path, ipam.interface(ip, info.subnet),
                         info.gateway if route else None, mac, mtu=self.options.mtu,
                         ifname=ifname, address6=self._v6(ip6, route))  # fmt: skip
        if self.firewall:
            peer = Peer(owner, veth, mac)
            try:
                nft.apply(ruleset.add(self.table, dnats)
                          + ruleset.peer_chain(self.table, peer, self.options.icc))  # fmt: skip
            except errors.DockyardError:
                netlink.delete_link(veth)
                raise
            try:  # not through libnftables: its `add element` reads every chain first
                elements.add_interface_element("netdev", self.table, "peers", mac, veth,
                                               f"dockyard:{owner[:12]}")  # fmt: skip
            except errors.DockyardError:
                best_effort([(nft.apply, (ruleset.delete(self.table, dnats)
                                          + ruleset.delete_peer_chain(self.table, peer),)),
                             (netlink.delete_link, (veth,))])  # fmt: skip
                raise

    def _v6(self, ip6: IPv6Address | None, route: bool) -> netlink.Address6 | None:
        if ip6 is None or self.gw6 is None:
            return None
        via = self.gw6.ip if route else None
        return netlink.Address6(IPv6Interface(f"{ip6}/{self.gw6.network.prefixlen}"), via)

    def detach(self, veth: str, mac: str, owner: str, dnats: list[Dnat]) -> list[str]:
        """Best effort: returns what could not be undone."""
        steps: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        if self.firewall:  # separately: one missing piece must not keep the other
            steps += [(nft.apply, (ruleset.delete(self.table, dnats),)),
                      (nft.apply, (ruleset.delete_peer(self.table, Peer(owner, veth, mac)),))]  # fmt: skip
        steps.append((netlink.delete_link, (veth,)))
        return [str(e) for e in best_effort(steps)]

    def forget_veth(self, veth: str) -> None:
        """A veth no endpoint owns (a crash mid-setup): only the link is left to delete."""
        netlink.delete_link(veth)

    def leftover_veths(self, live: set[str]) -> list[str]:
        """Our veths (by prefix) enslaved to no live endpoint. Only links on our own bridge
        are candidates: another daemon's veths share the prefix."""
        return [v for v in netlink.links_with_prefix(VETH_PREFIX) if v not in live and
                netlink.master_of(v) == self.device]  # fmt: skip

    def reconcile_host_rules(self) -> None:
        """At daemon start: FORWARD accepts tagged for bridges that no longer exist (any
        dockyard daemon's) go; best effort."""
        if not self.firewall:
            return
        try:
            for gone in forward.reconcile(netlink.link_exists):
                log.info("removed the FORWARD rules of the gone bridge %s", gone)
        except errors.DockyardError as e:
            log.warning("reconciling FORWARD rules: %s", e)

    def close(self) -> None:
        if self.firewall:
            nft.apply(ruleset.drop_table(self.table))
            forward.remove(self.device)
        if self.info is not None and self.info.ours:
            netlink.delete_link(self.device)

    def destroy(self) -> None:
        """A user network's removal: its tables and FORWARD accepts, and its bridge if we made
        it (alias)."""
        if self.firewall:
            nft.apply(ruleset.drop_table(self.table))
            forward.remove(self.device)
        if netlink.link_exists(self.device) and netlink.link_alias(self.device) == self.alias:
            netlink.delete_link(self.device)

    def _info(self) -> BridgeInfo:
        if self.info is None:
            raise errors.Unavailable("the default bridge is not set up")
        return self.info
