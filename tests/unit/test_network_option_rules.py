"""N5: what the bridge driver options change, as pure text and state: the nft rules for
enable_icc / enable_ip_masquerade, the interface numbering per container_iface_prefix, and the
names of a container's own /etc/hosts lines."""

from __future__ import annotations

from ipaddress import IPv4Network

from dockyard.core.container import ContainerRecord
from dockyard.network import netlink
from dockyard.network.attachments import hosts_names
from dockyard.network.endpoints import next_ifname
from dockyard.network.firewall import ruleset
from dockyard.network.firewall.ruleset import BridgeRules, Peer
from dockyard.network.records import NetworkRow

NET = IPv4Network("10.99.0.0/24")
OUTBOUND = 'ip saddr 10.99.0.0/24 oifname != "dy-x" masquerade'
PEER = Peer("c" * 64, "dyv1234567", "02:42:0a:63:00:02")


def _rules(**kw: bool) -> str:
    return ruleset.table(BridgeRules("dockyard-dy-x", "dy-x", NET, **kw))


def test_masquerade_false_drops_only_the_outbound_rule() -> None:
    assert OUTBOUND in _rules()
    text = _rules(masquerade=False)
    assert OUTBOUND not in text
    # the host's own and hairpin traffic towards containers is still NAT'd
    assert 'oifname "dy-x" fib saddr type local masquerade' in text
    assert 'oifname "dy-x" ip saddr 10.99.0.0/24 ct status dnat masquerade' in text


def test_icc_false_drops_routed_container_to_container_but_not_dnat() -> None:
    line = 'iifname "dy-x" oifname "dy-x" ct status & dnat == 0 drop'
    assert line not in _rules()
    text = _rules(icc=False)
    assert line in text
    assert text.index(line) < text.index('iifname "dy-x" accept')  # before the accept


def test_icc_false_ingress_drops_instead_of_forwarding_to_peers() -> None:
    default = ruleset.add_peer("t", PEER)
    assert "ether type ip fwd to ether daddr map @peers" in default
    off = ruleset.add_peer("t", PEER, icc=False)
    assert "fwd" not in off
    assert "ether type ip ether daddr @peers drop" in off
    # the MAC is still registered, so the other containers' chains know whom to drop
    assert "add element netdev t peers { 02:42:0a:63:00:02" in off
    assert "ether daddr @peers drop" in ruleset.peers_table("t", [PEER], icc=False)
    assert "fwd to" in ruleset.peers_table("t", [PEER])


def _rec(**config: str) -> ContainerRecord:
    return ContainerRecord("a" * 64, "n", "2026-01-01T00:00:00Z", "sha256:x",
                           {"Config": dict(config), "HostConfig": {}, "State": {}})  # fmt: skip


def _row(prefix: str = "") -> NetworkRow:
    opts = {"com.docker.network.container_iface_prefix": prefix} if prefix else {}
    return NetworkRow("n" * 64, "net", "bridge", "", {"Options": opts})


def test_interface_numbers_count_per_prefix_and_never_go_back() -> None:
    rec = _rec()
    rec.net.if_index = {}
    names = [next_ifname(rec, _row(p)) for p in ("foo", "", "", "foo", "")]
    assert names == ["foo0", "eth0", "eth1", "foo1", "eth2"]
    assert rec.net.if_index == {"foo": 2, "eth": 3}


def test_interface_numbers_seeded_from_a_running_container_without_counters() -> None:
    rec = _rec()
    assert next_ifname(rec, _row(), ["eth0", "eth3", "foo0"]) == "eth4"
    assert next_ifname(rec, _row("foo"), []) == "foo1"
    assert next_ifname(rec, _row("bar"), []) == "bar0"


def test_hosts_names_follow_the_fqdn() -> None:
    assert hosts_names(_rec(Hostname="box")) == "box"
    assert hosts_names(_rec(Hostname="box", Domainname="example.org")) == "box.example.org box"
    assert hosts_names(_rec()) == "a" * 12


def test_mtu_range_is_the_kernels() -> None:
    assert 68 in netlink.MTU_RANGE and 65535 in netlink.MTU_RANGE
    assert 60 not in netlink.MTU_RANGE and 70000 not in netlink.MTU_RANGE
