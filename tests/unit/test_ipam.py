"""IPAM math (N3): Docker's default pools, overlap skipping, address allocation, MACs."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from dockyard import errors
from dockyard.network import ipam


def test_first_default_pool_is_docker0s() -> None:
    """N3: an empty host gets 172.17.0.0/16 like docker0."""
    assert ipam.choose_subnet(ipam.DEFAULT_POOLS, []) == IPv4Network("172.17.0.0/16")


def test_pools_overlapping_host_routes_are_skipped() -> None:
    """N3: a route or address on the host (a VPN, another bridge) moves us to the next pool."""
    taken = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.5.0/24"), IPv4Network("0.0.0.0/0")]
    assert ipam.choose_subnet(ipam.DEFAULT_POOLS, taken) == IPv4Network("172.19.0.0/16")


def test_split_pools_and_exhaustion_message() -> None:
    """N3: 172.20/14 yields /16s; when everything overlaps Docker's exact error is raised."""
    taken = [IPv4Network(f"172.{n}.0.0/16") for n in range(17, 21)]
    assert ipam.choose_subnet(ipam.DEFAULT_POOLS, taken) == IPv4Network("172.21.0.0/16")
    with pytest.raises(errors.DockyardError) as e:
        ipam.choose_subnet(
            ipam.DEFAULT_POOLS, [IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")]
        )
    assert e.value.message == ipam.NO_POOL


def test_custom_pool_parsing() -> None:
    """N3: --default-address-pool base=...,size=..."""
    pool = ipam.parse_pool("base=10.10.0.0/16,size=24")
    assert next(pool.subnets()) == IPv4Network("10.10.0.0/24")
    with pytest.raises(errors.InvalidParameter):
        ipam.parse_pool("base=10.10.0.0/16,size=8")
    with pytest.raises(errors.InvalidParameter):
        ipam.parse_pool("size=24")


def test_allocation_skips_gateway_and_used() -> None:
    """N3: addresses are handed out lowest first, never the gateway; a full subnet errors."""
    net = IPv4Network("172.30.0.0/29")
    gw = ipam.gateway_of(net)
    assert gw == IPv4Address("172.30.0.1")
    assert ipam.allocate(net, [gw], "bridge") == IPv4Address("172.30.0.2")
    used = [gw, IPv4Address("172.30.0.2"), IPv4Address("172.30.0.3")]
    assert ipam.allocate(net, used, "bridge") == IPv4Address("172.30.0.4")
    full = list(net.hosts())
    with pytest.raises(errors.Unavailable, match="no available IPv4 addresses"):
        ipam.allocate(net, full, "bridge")


def test_mac_follows_address_like_docker() -> None:
    """N3: 02:42 + the IPv4 address."""
    assert ipam.mac_for(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"
