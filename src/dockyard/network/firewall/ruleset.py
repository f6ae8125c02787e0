"""The nftables text dockyard loads, pure. One `ip` table per daemon instance; port publications
are elements of two DNAT maps (tcp, udp) keyed by host address range and port, so a container's
rules are added and removed by key in one atomic batch, without rule handles. Every rule and
element carries `comment "dockyard:<owner>"` (owner: the bridge or a container id).

Data path (dockerd's proxy-less mode):
    prerouting  local destination           -> DNAT through the map (outside and containers)
    output      local destination, incl 127/8 -> DNAT through the map (the host itself;
                                               route_localnet on the bridge makes 127/8 routable)
    postrouting from the subnet, not to the bridge      -> masquerade (outbound)
                to the bridge from a local address      -> masquerade (host incl. 127.0.0.1)
                to the bridge, DNAT'd, from the subnet  -> masquerade (hairpin)
    forward     accept the bridge's traffic; drop direct access to containers from elsewhere

Container to container, a `netdev` table of the same name: an ingress chain on each host veth
hands unicast IPv4 for another container's MAC straight to that container's veth (`fwd`). The
frames skip the bridge and br_netfilter, so a host dockerd's `FORWARD DROP` policy (applied to
bridged traffic once it loads br_netfilter) cannot cut them, and we never edit its chains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from dockyard.core.container import Published

MAPS = {"tcp": "tcp-dnat", "udp": "udp-dnat"}


@dataclass(frozen=True)
class BridgeRules:
    table: str
    bridge: str
    subnet: IPv4Network
    internal: bool = False  # --internal: nothing in or out but the subnet itself
    masquerade: bool = True  # enable_ip_masquerade=false: outbound leaves with its own source
    icc: bool = True  # enable_icc=false: no routed path between containers either


@dataclass(frozen=True)
class Dnat:
    owner: str  # container id
    port: Published
    container_ip: IPv4Address


@dataclass(frozen=True)
class Peer:
    owner: str  # container id
    veth: str  # the host end
    mac: str  # the container's eth0


def tag(owner: str) -> str:
    return f'comment "dockyard:{owner}"'


def _key(p: Published) -> str:
    addr = "0.0.0.0/0" if p.host_ip in ("", "0.0.0.0") else p.host_ip
    return f"{addr} . {p.host_port}"


def _element(d: Dnat) -> str:
    return f"{_key(d.port)} {tag(d.owner[:12])} : {d.container_ip} . {d.port.container_port}"


def table(r: BridgeRules, dnats: Iterable[Dnat] = ()) -> str:
    """The whole table, replacing any previous one atomically (the `add` makes the `delete`
    safe when there was none)."""
    br, net, own = r.bridge, r.subnet, tag(r.bridge)
    maps = "".join(
        f"  map {name} {{\n"
        "    type ipv4_addr . inet_service : ipv4_addr . inet_service\n"
        "    flags interval\n"
        "  }\n"
        for name in MAPS.values()
    )
    dnat = (
        f"    fib daddr type local dnat ip to ip daddr . tcp dport map @tcp-dnat {own}\n"
        f"    fib daddr type local dnat ip to ip daddr . udp dport map @udp-dnat {own}\n"
    )
    text = (
        f"add table ip {r.table}\n"
        f"delete table ip {r.table}\n"
        f"table ip {r.table} {{\n{maps}"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        f"{dnat}"
        "  }\n"
        "  chain output {\n"
        "    type nat hook output priority -100; policy accept;\n"
        f"{dnat}"
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        + (
            ""
            if r.internal or not r.masquerade
            else f'    ip saddr {net} oifname != "{br}" masquerade {own}\n'
        )
        + f'    oifname "{br}" fib saddr type local masquerade {own}\n'
        + f'    oifname "{br}" ip saddr {net} ct status dnat masquerade {own}\n'
        + "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        + (f'    iifname "{br}" oifname != "{br}" drop {own}\n' if r.internal else "")
        # icc=false: a container routing to another through the gateway is dropped too (the
        # netdev chains stop the direct path); published ports reached by hairpin stay open.
        + ("" if r.icc else f'    iifname "{br}" oifname "{br}" ct status & dnat == 0 drop {own}\n')
        + f'    iifname "{br}" accept {own}\n'
        f'    oifname "{br}" ct state established,related accept {own}\n'
        f'    oifname "{br}" ct status dnat accept {own}\n'
        f'    oifname "{br}" drop {own}\n'
        "  }\n"
        "}\n"
    )
    return text + add(r.table, dnats)


def peers_table(table_name: str, peers: Iterable[Peer] = (), icc: bool = True) -> str:
    return (
        f"add table netdev {table_name}\n"
        f"delete table netdev {table_name}\n"
        f"table netdev {table_name} {{\n"
        "  map peers {\n"
        "    type ether_addr : iface_index\n"
        "  }\n"
        "}\n" + "".join(add_peer(table_name, p, icc) for p in peers)
    )


def add_peer(table_name: str, p: Peer, icc: bool = True) -> str:
    """The veth's ingress chain and its element in `peers`."""
    own = tag(p.owner[:12])
    return peer_chain(table_name, p, icc) + (
        f'add element netdev {table_name} peers {{ {p.mac} {own} : "{p.veth}" }}\n'
    )


def peer_chain(table_name: str, p: Peer, icc: bool = True) -> str:
    """The veth's ingress chain. enable_icc=false: IPv4 for another container's MAC is dropped
    instead of forwarded; frames for the bridge's MAC (the gateway, the outside, published
    ports by hairpin) and ARP still pass, so only container-to-container traffic stops. (At
    a container's start its element goes in through elements.py.)"""
    own = tag(p.owner[:12])
    verdict = "fwd to ether daddr map @peers" if icc else "ether daddr @peers drop"
    return (
        f"add chain netdev {table_name} in-{p.veth} {{ type filter hook ingress device "
        f'"{p.veth}" priority 0; policy accept; }}\n'
        f"add rule netdev {table_name} in-{p.veth} ether type ip {verdict} {own}\n"
    )


def delete_peer(table_name: str, p: Peer) -> str:
    return f"delete element netdev {table_name} peers {{ {p.mac} }}\n" + delete_peer_chain(
        table_name, p
    )


def delete_peer_chain(table_name: str, p: Peer) -> str:
    return f"delete chain netdev {table_name} in-{p.veth}\n"


def add(table_name: str, dnats: Iterable[Dnat]) -> str:
    return _elements("add", table_name, dnats, _element)


def delete(table_name: str, dnats: Iterable[Dnat]) -> str:
    return _elements("delete", table_name, dnats, lambda d: _key(d.port))


def _elements(verb: str, table_name: str, dnats: Iterable[Dnat], render: object) -> str:
    by_map: dict[str, list[str]] = {}
    for d in dnats:
        by_map.setdefault(MAPS[d.port.proto], []).append(render(d))  # type: ignore[operator]
    return "".join(
        f"{verb} element ip {table_name} {name} {{ {', '.join(items)} }}\n"
        for name, items in by_map.items()
    )


def drop_table(table_name: str) -> str:
    return "".join(
        f"add table {family} {table_name}\ndelete table {family} {table_name}\n"
        for family in ("ip", "netdev")
    )
