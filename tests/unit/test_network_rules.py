"""The nftables text (N1, N3), links (N2) and resolv.conf (N6), pure."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from dockyard import errors
from dockyard.core.container import Published
from dockyard.network import links, modes, resolv
from dockyard.network.firewall import forward, ruleset
from dockyard.network.firewall.ruleset import BridgeRules, Dnat


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
    assert env[0] == "DB_PORT=udp://172.30.0.2:53"  # the lowest number, as dockerd 20.10
    assert "DB_PORT_80_TCP_ADDR=172.30.0.2" in env
    assert "DB_PORT_53_UDP_PROTO=udp" in env
    assert "DB_NAME=/me/db" in env
    assert "DB_ENV_FOO=bar" in env and not any("PATH" in e for e in env if e.startswith("DB_ENV"))
    assert links.hosts_entry(link, "abc123", "172.30.0.2") == "db abc123 web:172.30.0.2"
    assert links.hosts_entry(links.parse("web"), "abc123", "1.2.3.4") == "web abc123:1.2.3.4"


def test_link_env_port_ranges() -> None:
    """N2, D-net-10: dockerd 20.10's variables, in its order (checked against a real one in
    test_network_coexist.py): runs of 3+ ports by number get _START/_END first, then four per
    port; a name set twice keeps its first place; aliases keep dots, dashes become _."""
    ip = "10.0.0.5"
    exposed = {f"{p}/tcp": {} for p in (8000, 8001, 8002, 9000)} | {"53/udp": {}}
    env = links.env(links.parse("web:my-db.x"), "me", ip, exposed, [])
    a = "MY_DB.X_PORT"

    def four(n: int, pr: str) -> list[str]:
        b = f"{a}_{n}_{pr.upper()}"
        return [f"{b}={pr}://{ip}:{n}", f"{b}_ADDR={ip}", f"{b}_PORT={n}", f"{b}_PROTO={pr}"]

    assert env == [
        f"{a}=udp://{ip}:53",
        f"{a}_8000_TCP_START=tcp://{ip}:8000", f"{a}_8000_TCP_ADDR={ip}",
        f"{a}_8000_TCP_PROTO=tcp", f"{a}_8000_TCP_PORT_START=8000",
        f"{a}_8000_TCP_END=tcp://{ip}:8002", f"{a}_8000_TCP_PORT_END=8002",
        *four(53, "udp"),
        f"{a}_8000_TCP=tcp://{ip}:8000", f"{a}_8000_TCP_PORT=8000",
        *four(8001, "tcp"), *four(8002, "tcp"), *four(9000, "tcp"),
        "MY_DB.X_NAME=/me/my-db.x",
    ]  # fmt: skip
    # two consecutive ports are no run; a run ignores the protocol (the end's names its _END)
    two = links.env(links.parse("a"), "me", ip, {"7/udp": {}, "8/udp": {}}, [])
    assert not any("_START" in e or "_END" in e for e in two)
    mixed = links.env(links.parse("a"), "me", ip, {"7/tcp": {}, "8/tcp": {}, "9/udp": {}}, [])
    assert f"A_PORT_7_UDP_END=udp://{ip}:9" in mixed and "A_PORT_7_UDP_PORT_END=9" in mixed
    assert f"A_PORT=tcp://{ip}:7" in links.env(links.parse("a"), "me", ip,
                                                {"7/udp": {}, "7/tcp": {}}, [])  # fmt: skip


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


LISTING = """-P FORWARD DROP
-A FORWARD -j DOCKER-USER
-A FORWARD -o dyx -m conntrack --ctstate DNAT -m comment --comment "dockyard:dyx" -j ACCEPT
-A FORWARD -i dyx -m comment --comment "dockyard:dyx" -j ACCEPT
-A FORWARD -i old0 -m comment --comment "dockyard:old0" -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
"""


def test_forward_accepts_are_tagged_and_idempotent() -> None:
    """Coexistence (D-net-6): our FORWARD accepts, by bridge tag; a complete set needs no batch,
    an incomplete one is replaced atomically; other rules are never in a batch."""
    assert forward.parse(LISTING) == {
        "dyx": [
            '-o dyx -m conntrack --ctstate DNAT -m comment --comment "dockyard:dyx" -j ACCEPT',
            '-i dyx -m comment --comment "dockyard:dyx" -j ACCEPT',
        ],
        "old0": ['-i old0 -m comment --comment "dockyard:old0" -j ACCEPT'],
    }
    batch = forward.ensure_batch(LISTING, "dyx")
    lines = batch.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert [ln for ln in lines if ln.startswith("-D")] == [
        f"-D FORWARD {r}" for r in forward.parse(LISTING)["dyx"]
    ]
    assert [ln for ln in lines if ln.startswith("-I")] == [
        f"-I FORWARD 1 {r}" for r in forward.rules("dyx")
    ]
    assert "DOCKER" not in batch
    complete = "".join(f"-A FORWARD {r}\n" for r in reversed(forward.rules("dyx")))
    assert forward.ensure_batch(complete, "dyx") == ""
    assert forward.rules("dyi", internal=True) == [
        '-i dyi -o dyi -m comment --comment "dockyard:dyi" -j ACCEPT'
    ]
    # only published ports and replies go towards the bridge (Docker's semantics)
    towards = [r for r in forward.rules("dyx") if r.startswith("-o")]
    assert all("--ctstate" in r for r in towards)


def test_forward_reconcile_drops_only_gone_bridges() -> None:
    """Coexistence (D-net-6): at start, rules of bridges that no longer exist go, by tag."""
    assert forward.stale_bridges(LISTING, lambda b: b == "dyx") == ["old0"]
    assert forward.remove_batch(LISTING, ["old0"]) == (
        '*filter\n-D FORWARD -i old0 -m comment --comment "dockyard:old0" -j ACCEPT\nCOMMIT\n'
    )
    assert forward.remove_batch(LISTING, ["nosuch"]) == ""


def test_container_mode_config_conflicts() -> None:
    """N4: a container:NAME joiner cannot set its hostname or expose ports (dockerd's 400s)."""
    hc = {"NetworkMode": "container:web"}
    modes.config_conflicts({"Hostname": ""}, hc)
    modes.config_conflicts({"Hostname": "h"}, {"NetworkMode": "bridge"})
    with pytest.raises(errors.InvalidParameter, match="^conflicting options: hostname and the"):
        modes.config_conflicts({"Hostname": "h"}, hc)
    with pytest.raises(errors.InvalidParameter, match="port exposing and the container type"):
        modes.config_conflicts({"ExposedPorts": {"80/tcp": {}}}, hc)
