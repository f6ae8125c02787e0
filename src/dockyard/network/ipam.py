"""Address management, pure: Docker's default pools, subnet choice that skips anything already
on the host, and first-free address allocation inside a subnet. State lives in records.py."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import TypeVar

from dockyard import errors


@dataclass(frozen=True)
class Pool:
    base: IPv4Network
    size: int  # prefix length of the subnets carved from base

    def subnets(self) -> Iterator[IPv4Network]:
        return self.base.subnets(new_prefix=self.size)


# dockerd's defaults (libnetwork ipamutils): the 172.17-31 range as /16s, 192.168/16 as /20s.
DEFAULT_POOLS: tuple[Pool, ...] = (
    Pool(IPv4Network("172.17.0.0/16"), 16),
    Pool(IPv4Network("172.18.0.0/16"), 16),
    Pool(IPv4Network("172.19.0.0/16"), 16),
    Pool(IPv4Network("172.20.0.0/14"), 16),
    Pool(IPv4Network("172.24.0.0/14"), 16),
    Pool(IPv4Network("172.28.0.0/14"), 16),
    Pool(IPv4Network("192.168.0.0/16"), 20),
)

NO_POOL = (
    "could not find an available, non-overlapping IPv4 address pool among the defaults to "
    "assign to the network"
)


def parse_pool(text: str) -> Pool:
    """dockerd's `--default-address-pool base=10.10.0.0/16,size=24`."""
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    try:
        base = IPv4Network(fields["base"])
        size = int(fields.get("size", "24"))
    except (KeyError, ValueError) as e:
        raise errors.InvalidParameter(f"invalid default address pool {text!r}: {e}") from None
    if size < base.prefixlen or size > 30:
        raise errors.InvalidParameter(f"invalid default address pool {text!r}: bad size {size}")
    return Pool(base, size)


def choose_subnet(pools: Iterable[Pool], taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first subnet of the pools that overlaps nothing taken (host routes and addresses,
    other networks): the same walk as libnetwork's allocatePredefinedPool."""
    used = [t for t in taken if t.prefixlen > 0]  # a default route overlaps everything
    for pool in pools:
        for subnet in pool.subnets():
            if not any(subnet.overlaps(t) for t in used):
                return subnet
    raise errors.Forbidden(NO_POOL)


Net = TypeVar("Net", IPv4Network, IPv6Network)
Addr = TypeVar("Addr", IPv4Address, IPv6Address)


def config_net(text: str, what: str, kind: type[Net]) -> Net:
    """A subnet or ip-range of a network's IPAM config, refused in dockerd's words when it is no
    CIDR or has host bits set."""
    try:
        net = kind(text, strict=False)
        given = net.network_address.__class__(text.partition("/")[0])
    except ValueError:
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid {what} {text}: invalid CIDR address: {text}"
        ) from None
    if given != net.network_address or not text.partition("/")[2].isdigit():
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid {what} {text}: it should be {net}"
        )
    return net


def config_addr(text: str, what: str, subnet: IPv4Network | IPv6Network, kind: type[Addr]) -> Addr:
    """A gateway or auxiliary address of a network's IPAM config, inside its subnet."""
    try:
        ip = kind(text)
    except ValueError:
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid {what} {text}: ParseAddr({text!r}): "
            "unable to parse IP"
        ) from None
    if ip not in subnet:
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid {what} {text}: IP does not belong to subnet {subnet}"
        )
    return ip


def gateway_of(subnet: IPv4Network) -> IPv4Address:
    return subnet.network_address + 1


def allocate(
    subnet: IPv4Network, reserved: Iterable[IPv4Address], network_name: str
) -> IPv4Address:
    """The lowest free host address (the gateway and broadcast are never handed out)."""
    used = set(reserved)
    for host in subnet.hosts():
        if host not in used:
            return host
    raise errors.Unavailable(
        f"no available IPv4 addresses on this network's address pools: {network_name}"
    )


def mac_for(ip: IPv4Address) -> str:
    """Docker's classic MAC: 02:42 followed by the IPv4 address, so ARP caches never go stale
    when an address is reused by another container."""
    octets = [0x02, 0x42, *ip.packed]
    return ":".join(f"{b:02x}" for b in octets)


def interface(ip: IPv4Address, subnet: IPv4Network) -> ipaddress.IPv4Interface:
    return ipaddress.IPv4Interface(f"{ip}/{subnet.prefixlen}")
