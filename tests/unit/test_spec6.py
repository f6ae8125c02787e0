"""The IPv6 half of a user network's spec (#16, N3/N5), pure: parsing with dockerd's words,
the stored doc, what inspect shows, and address picking."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from dockyard import errors
from dockyard.network import spec, spec6


def body(*configs: dict[str, object], ipv6: bool = True) -> dict[str, object]:
    return {"Name": "x", "EnableIPv6": ipv6, "IPAM": {"Config": list(configs)}}


def test_dual_stack_parse_and_doc() -> None:
    s = spec.parse(body({"Subnet": "fd12::/64"}))
    assert s.subnet is None and s.v6 is not None and s.ipv6  # IPv4 comes from the pools
    doc = spec6.doc(s.v6, s.ipv6)
    assert doc == {"EnableIPv6": True, "Subnet6": "fd12::/64", "Gateway6": "fd12::1",
                   "UserGateway6": False, "IPRange6": ""}  # fmt: skip
    assert spec6.ipam_config(doc) == {"Subnet": "fd12::/64"}  # the gateway only when given
    assert str(spec6.gateway(doc)) == "fd12::1/64"
    given = spec.parse(body({"Subnet": "10.9.0.0/24"},
                            {"Subnet": "2001:389::0/64", "IPRange": "2001:389::0/96",
                             "Gateway": "2001:389::ffff"}))  # fmt: skip
    assert given.subnet is not None and given.v6 is not None
    doc = spec6.doc(given.v6, True)
    assert spec6.ipam_config(doc) == {"Subnet": "2001:389::/64", "IPRange": "2001:389::/96",
                                      "Gateway": "2001:389::ffff"}  # fmt: skip
    # a v6 subnet without EnableIPv6 is kept and hands out nothing, as dockerd
    off = spec.parse(body({"Subnet": "fd12::/64"}, ipv6=False))
    assert spec6.gateway(spec6.doc(off.v6, off.ipv6)) is None


@pytest.mark.parametrize(
    ("cfgs", "ipv6", "error", "text"),
    [
        ([], True, errors.NotFound, "non-overlapping IPv6 address pool"),
        ([{"Subnet": "fd12::1/64"}], True, errors.InvalidParameter, "it should be fd12::/64"),
        ([{"Subnet": "fd12::/64", "Gateway": "fd13::1"}], True, errors.InvalidParameter,
         "IP does not belong to subnet"),
        ([{"Subnet": "fd12::/64"}, {"Subnet": "fd13::/64"}], True, errors.Unsupported, "one"),
    ],
)  # fmt: skip
def test_parse_errors(
    cfgs: list[dict[str, object]], ipv6: bool, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        spec.parse(body(*cfgs, ipv6=ipv6))


def test_pick() -> None:
    doc = spec6.doc(spec6.parse_config({"Subnet": "fd12::/64", "IPRange": "fd12::100/120"}), True)
    assert spec6.pick(doc, [], "") == IPv6Address("fd12::101")
    assert spec6.pick(doc, ["fd12::101"], "") == IPv6Address("fd12::102")
    assert spec6.pick(doc, [], "fd12::5") == IPv6Address("fd12::5")  # --ip6 may leave the range
    with pytest.raises(errors.Forbidden, match="Address already in use"):
        spec6.pick(doc, ["fd12::5"], "fd12::5")
    with pytest.raises(errors.Forbidden, match="Address already in use"):
        spec6.pick(doc, [], "fd12::1")  # the gateway
    with pytest.raises(errors.InvalidParameter, match="no configured subnet or ip-range"):
        spec6.pick(doc, [], "fd99::5")
