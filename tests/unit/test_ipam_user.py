"""User-network specs and addresses (N5), pure: Docker's errors, pools, --ip rules."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from dockyard import errors
from dockyard.network import ipam, spec


def body(**cfg: str) -> dict[str, object]:
    return {"Name": "n", "IPAM": {"Config": [cfg]}}


def test_parse_full() -> None:
    """N5: subnet, gateway, ip-range, aux addresses, labels, options kept."""
    s = spec.parse({"Name": "n", "Internal": True, "Labels": {"a": "b"},
                    "Options": {spec.BRIDGE_NAME: "br-x"},
                    "IPAM": {"Config": [{"Subnet": "10.5.0.0/16", "Gateway": "10.5.0.254",
                                         "IPRange": "10.5.1.0/24",
                                         "AuxiliaryAddresses": {"h": "10.5.0.2"}}]}})  # fmt: skip
    doc = s.doc(IPv4Network("10.5.0.0/16"), IPv4Address("10.5.0.254"), "br-x")
    assert doc["IPRange"] == "10.5.1.0/24" and doc["Internal"] and doc["Labels"] == {"a": "b"}
    assert spec.pick(doc, [], "", "n") == IPv4Address("10.5.1.1")
    assert IPv4Address("10.5.0.2") in spec.reserved(doc)


@pytest.mark.parametrize(
    ("cfg", "kind", "text"),
    [
        ({"Subnet": "10.300.0.0/24"}, errors.InvalidParameter, "invalid CIDR address"),
        ({"Subnet": "10.1.0.5/24"}, errors.InvalidParameter, "it should be 10.1.0.0/24"),
        ({"Subnet": "10.1.0.0/24", "Gateway": "10.2.0.1"}, errors.InvalidParameter,
         "IP does not belong to subnet 10.1.0.0/24"),
        ({"Subnet": "10.1.0.0/24", "IPRange": "10.2.0.0/25"}, errors.InvalidParameter,
         "ip-range"),
        ({"Gateway": "10.2.0.1"}, errors.InvalidParameter, "without a subnet"),
    ],
)  # fmt: skip
def test_parse_errors(cfg: dict[str, str], kind: type[Exception], text: str) -> None:
    """N5 bad input: Docker's wording."""
    with pytest.raises(kind, match=text):
        spec.parse(body(**cfg))


def test_predefined_and_driver() -> None:
    with pytest.raises(errors.Forbidden, match="predefined bridge network"):
        spec.parse({"Name": "bridge"})
    with pytest.raises(errors.NotFound, match="plugin macvlan"):
        spec.parse({"Name": "x", "Driver": "macvlan"})
    # overlay is parsed (swarm scope; refused outside a swarm by usernets, D-dpy6-2)
    ov = spec.parse({"Name": "x", "Driver": "overlay", "Attachable": True})
    assert (ov.driver, ov.attachable, ov.ingress) == ("overlay", True, False)
    assert spec.parse({"Name": "x", "Scope": "local"}).driver == "bridge"
    with pytest.raises(errors.InvalidParameter, match="invalid network scope: nowhere"):
        spec.parse({"Name": "x", "Scope": "nowhere"})


def test_choose_overlap_and_pools() -> None:
    """N5: a user subnet overlapping a taken one is refused; pools skip taken ones."""
    taken = [IPv4Network("172.17.0.0/16"), IPv4Network("0.0.0.0/0")]
    host = [IPv4Network("172.18.0.0/16"), IPv4Network("10.9.0.0/16")]
    s = spec.parse({"Name": "x"})
    assert spec.choose(s, ipam.DEFAULT_POOLS, taken, host)[0] == IPv4Network("172.19.0.0/16")
    s = spec.parse(body(Subnet="172.17.5.0/24"))
    with pytest.raises(errors.Forbidden, match="overlaps"):
        spec.choose(s, ipam.DEFAULT_POOLS, taken, host)
    # #16: a given subnet over a host route is accepted, as dockerd does
    s = spec.parse(body(Subnet="10.9.8.0/24"))
    assert spec.choose(s, ipam.DEFAULT_POOLS, taken, host)[0] == IPv4Network("10.9.8.0/24")
    tiny = (ipam.Pool(IPv4Network("10.0.0.0/24"), 24),)
    with pytest.raises(errors.Forbidden, match="non-overlapping"):
        spec.choose(spec.parse({"Name": "x"}), tiny, [IPv4Network("10.0.0.0/8")])


def test_pick_ip_rules() -> None:
    """N5: --ip outside the subnet or taken is refused; gateway never handed out."""
    doc = spec.parse(body(Subnet="10.7.0.0/29")).doc(
        IPv4Network("10.7.0.0/29"), IPv4Address("10.7.0.1"), "d"
    )
    assert spec.pick(doc, [], "10.7.0.5", "n") == IPv4Address("10.7.0.5")
    with pytest.raises(errors.InvalidParameter, match="no configured subnet"):
        spec.pick(doc, [], "10.8.0.5", "n")
    with pytest.raises(errors.Forbidden, match="Address already in use"):
        spec.pick(doc, [IPv4Address("10.7.0.5")], "10.7.0.5", "n")
    with pytest.raises(errors.Forbidden, match="Address already in use"):
        spec.pick(doc, [], "10.7.0.1", "n")
    used = [IPv4Address(f"10.7.0.{i}") for i in range(2, 7)]
    with pytest.raises(errors.Unavailable, match="no available IPv4 addresses"):
        spec.pick(doc, used, "", "n")


def test_ipam_config_shows_what_was_given() -> None:
    """N5 (found by the compose project of #15): a given subnet without a gateway reads back
    without one, as dockerd's IPAM.Config; a pool-picked subnet and a given gateway show it;
    a network stored before the flag existed keeps showing its gateway."""
    from dockyard.network.records import NetworkRow
    from dockyard.network.views import network_doc

    def config(cfg: dict[str, str], old: bool = False) -> object:
        s = spec.parse({"Name": "n", "IPAM": {"Config": [cfg]} if cfg else {}})
        doc = s.doc(IPv4Network("10.6.0.0/24"), IPv4Address("10.6.0.1"), "br-x")
        if old:
            del doc["UserGateway"]
        return network_doc(NetworkRow("id", "n", "bridge", "", doc), {})["IPAM"]["Config"]

    assert config({"Subnet": "10.6.0.0/24"}) == [{"Subnet": "10.6.0.0/24"}]
    assert config({"Subnet": "10.6.0.0/24", "Gateway": "10.6.0.1"}) == [
        {"Subnet": "10.6.0.0/24", "Gateway": "10.6.0.1"}
    ]
    assert config({}) == [{"Subnet": "10.6.0.0/24", "Gateway": "10.6.0.1"}]
    assert config({"Subnet": "10.6.0.0/24"}, old=True) == [
        {"Subnet": "10.6.0.0/24", "Gateway": "10.6.0.1"}
    ]
