"""An endpoint's DNSNames in inspect (N5, found by the compose project of #15): dockerd's order
(name, aliases, short id, hostname) and each name once, although compose v1 passes the short id
as an alias too."""

from __future__ import annotations

from dockyard.core.container import ContainerRecord
from dockyard.network.endpoints import dns_names

ID = "34ba0ed60ff5" + "a" * 52


def record(hostname: str) -> ContainerRecord:
    return ContainerRecord(ID, "shop_worker_3", "", "", doc={"Config": {"Hostname": hostname}})


def test_compose_aliases_deduplicated_in_dockerd_order() -> None:
    got = dns_names(record("34ba0ed60ff5"), ["worker", "34ba0ed60ff5"])
    assert got == ["shop_worker_3", "worker", "34ba0ed60ff5"]


def test_own_hostname_last() -> None:
    assert dns_names(record("box"), []) == ["shop_worker_3", "34ba0ed60ff5", "box"]
    assert dns_names(record(""), ["a", "b"]) == ["shop_worker_3", "a", "b", "34ba0ed60ff5"]
