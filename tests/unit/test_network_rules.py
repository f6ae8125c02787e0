"""The nftables text (N1, N3), links (N2) and resolv.conf (N6), pure."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from dockyard.network import links, resolv
from dockyard.network.firewall import ruleset
from dockyard.network.firewall.ruleset import BridgeRules, Dnat
from dockyard.network.ports import Published


def test_table_is_atomic_and_tagged() -> None:
    """N1/N3: one batch replaces the table; every rule and element carries its owner tag."""
    dn = Dnat("c" * 64, Published("tcp", 80, "0.0.0.0", 8080), IPv4Address("172.30.0.2"))
    text = ruleset.table(BridgeRules("dockyard-dyt1", "dyt1", IPv4Network("172.30.0.0/16")), [dn])
    assert text.startswith("add table ip dockyard-dyt1\ndelete table ip dockyard-dyt1\n")
    rules = [
        ln
        for ln in text.splitlines()
        if ln.startswith("    ")
        and "policy" not in ln
        and ("masquerade" in ln or "accept" in ln or "dnat" in ln or "drop" in ln)
    ]
    assert rules and all('comment "dockyard:dyt1"' in ln for ln in rules)
    assert (
        "add element ip dockyard-dyt1 tcp-dnat "
        '{ 0.0.0.0/0 . 8080 comment "dockyard:cccccccccccc" : 172.30.0.2 . 80 }' in text
    )
    udp = Dnat("d" * 64, Published("udp", 53, "127.0.0.1", 5353), IPv4Address("172.30.0.3"))
    assert ruleset.delete("t", [udp]) == "delete element ip t udp-dnat { 127.0.0.1 . 5353 }\n"


def test_link_env_and_hosts() -> None:
    """N2: Docker's variable names and the hosts line (alias, hostname, name)."""
    link = links.parse("web:db")
    assert link == links.Link("web", "db")
    assert links.parse("/web:/me/db") == link
    env = links.env(
        link, "me", "172.30.0.2", {"80/tcp": {}, "53/udp": {}}, ["FOO=bar", "PATH=/bin"]
    )
    assert env[0] == "DB_PORT=udp://172.30.0.2:53"
    assert "DB_PORT_80_TCP_ADDR=172.30.0.2" in env
    assert "DB_PORT_53_UDP_PROTO=udp" in env
    assert "DB_NAME=/me/db" in env
    assert "DB_ENV_FOO=bar" in env and not any("PATH" in e for e in env if e.startswith("DB_ENV"))
    assert links.hosts_entry(link, "abc123", "172.30.0.2") == "db abc123 web:172.30.0.2"
    assert links.hosts_entry(links.parse("web"), "abc123", "1.2.3.4") == "web abc123:1.2.3.4"


def test_resolv_conf_rules() -> None:
    """N6: loopback servers dropped (Google's when none is left); --dns* rebuild the file."""
    host = "search corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"
    assert (
        resolv.build([], [], [], host)
        == "search corp.example\nnameserver 10.0.0.2\noptions edns0\n"
    )
    assert "nameserver 8.8.8.8\nnameserver 8.8.4.4" in resolv.build(
        [], [], [], "nameserver 127.0.0.53\n"
    )
    assert resolv.build(["1.1.1.1"], ["a.example"], ["ndots:2"], host) == (
        "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n"
    )
    assert resolv.build(["1.1.1.1"], [], [], host) == (
        "search corp.example\nnameserver 1.1.1.1\noptions edns0\n"
    )
