"""The IPv6 half of a user-defined network (N3, N5), pure like spec.py: the IPv6 IPAM config of
`POST /networks/create` (subnet, gateway, ip-range), the doc keys it is stored under, what
network inspect shows of it, and the address an endpoint gets (`--ip6`, else the lowest free).
dockerd keeps a v6 subnet given without EnableIPv6 in the IPAM config and hands out no v6
addresses from it; EnableIPv6 without a v6 subnet finds no default pool (dockerd has none)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from itertools import islice

from dockyard import errors
from dockyard.core.types import Json
from dockyard.network import ipam

NO_POOL = (
    "could not find an available, non-overlapping IPv6 address pool among the defaults to "
    "assign to the network"
)


@dataclass(frozen=True)
class Config6:
    subnet: IPv6Network
    gateway: IPv6Address | None = None
    ip_range: IPv6Network | None = None


def is_v6(cfg: Json) -> bool:
    return ":" in str(cfg.get("Subnet") or "")


def _net(text: str, what: str) -> IPv6Network:
    return ipam.config_net(text, what, IPv6Network)


def _addr(text: str, what: str, subnet: IPv6Network) -> IPv6Address:
    return ipam.config_addr(text, what, subnet, IPv6Address)


def parse_config(cfg: Json) -> Config6:
    subnet = _net(str(cfg["Subnet"]), "subnet")
    if subnet.prefixlen > 126:
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid subnet {subnet}: too small for a bridge network"
        )
    rng = _net(str(cfg["IPRange"]), "ip-range") if cfg.get("IPRange") else None
    if rng is not None and not rng.subnet_of(subnet):
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid ip-range {rng}: it must be a subnet of {subnet}"
        )
    gateway = _addr(str(cfg["Gateway"]), "gateway", subnet) if cfg.get("Gateway") else None
    if cfg.get("AuxiliaryAddresses"):
        raise errors.Unsupported("auxiliary addresses are not supported on IPv6 subnets")
    return Config6(subnet, gateway, rng)


def default_bridge(ipv6: bool, fixed_cidr_v6: str) -> Config6 | None:
    """dockerd's `--ipv6 --fixed-cidr-v6 CIDR` for the default bridge, its errors' words."""
    if not ipv6:
        return None
    if not fixed_cidr_v6:
        raise errors.InvalidParameter(
            "could not find an available, non-overlapping IPv6 address pool among the "
            "defaults to assign to the network: --fixed-cidr-v6 is needed with --ipv6"
        )
    return parse_config({"Subnet": fixed_cidr_v6})


def doc(cfg: Config6 | None, enabled: bool) -> Json:
    """The stored keys; the gateway defaults to the subnet's first address, as dockerd's."""
    if enabled and cfg is None:
        raise errors.NotFound(NO_POOL)
    if cfg is None:
        return {"EnableIPv6": False}
    gateway = cfg.gateway or cfg.subnet.network_address + 1
    return {"EnableIPv6": enabled, "Subnet6": str(cfg.subnet), "Gateway6": str(gateway),
            "UserGateway6": cfg.gateway is not None,
            "IPRange6": str(cfg.ip_range) if cfg.ip_range else ""}  # fmt: skip


def ipam_config(doc: Json) -> Json | None:
    """Network inspect's IPAM.Config entry: what was given (the gateway only if given)."""
    if not doc.get("Subnet6"):
        return None
    out: Json = {"Subnet": doc["Subnet6"]}
    if doc.get("IPRange6"):
        out["IPRange"] = doc["IPRange6"]
    if doc.get("UserGateway6"):
        out["Gateway"] = doc["Gateway6"]
    return out


def gateway(doc: Json) -> IPv6Interface | None:
    """The bridge's IPv6 address, when the network hands out IPv6 addresses."""
    if not doc.get("EnableIPv6") or not doc.get("Subnet6"):
        return None
    return IPv6Interface(f"{doc['Gateway6']}/{IPv6Network(doc['Subnet6']).prefixlen}")


def pick(doc: Json, used: list[str], want: str) -> IPv6Address:
    """`want` (--ip6) if inside the subnet and free, else the lowest free address of the
    ip-range (or subnet); never the subnet's own address nor the gateway."""
    subnet = IPv6Network(doc["Subnet6"])
    taken = {IPv6Address(u) for u in used if u} | {IPv6Address(doc["Gateway6"])}
    taken.add(subnet.network_address)
    if want:
        try:
            ip = IPv6Address(want)
        except ValueError:
            raise errors.InvalidParameter(f"invalid IPv6 address: {want}") from None
        if ip not in subnet:
            raise errors.InvalidParameter(
                "invalid endpoint settings:\n"
                f"no configured subnet or ip-range contain the IP address {ip}"
            )
        if ip in taken:
            raise errors.Forbidden("Address already in use")
        return ip
    rng = IPv6Network(doc["IPRange6"]) if doc.get("IPRange6") else subnet
    for ip in islice(rng.hosts(), len(taken) + 1):
        if ip not in taken and ip in subnet:
            return ip
    raise errors.Unavailable("no available IPv6 addresses on this network's address pools")
