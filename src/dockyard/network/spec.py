"""`POST /networks/create` bodies, pure: validation with Docker's wording, then the stored doc
of a user-defined bridge network (subnet, gateway, ip-range, aux addresses, options, labels).
Nothing here touches the host or the database; usernets.py does, after this passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from dockyard import errors
from dockyard.core.types import Json
from dockyard.network import ipam

BRIDGE_NAME = "com.docker.network.bridge.name"
OVERLAP = "invalid pool request: Pool overlaps with other one on this address space"
MTU = "com.docker.network.driver.mtu"
ICC = "com.docker.network.bridge.enable_icc"
MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"
IFACE_PREFIX = "com.docker.network.container_iface_prefix"


@dataclass(frozen=True)
class BridgeOptions:
    """The bridge driver options Docker documents, typed. Unknown options are kept in the
    network's Options (as Docker does) and otherwise ignored."""

    mtu: int | None = None  # container and host veth MTU; None: the kernel's default (1500)
    icc: bool = True  # containers on the network may talk to each other
    masquerade: bool = True  # outbound traffic is SNAT'd to the host's address
    host_ip: str = ""  # default HostIp of `-p` bindings without an address
    iface_prefix: str = "eth"  # container interfaces are <prefix>0, <prefix>1, ...

    @classmethod
    def of(cls, options: dict[str, str]) -> BridgeOptions:
        """Parse with dockerd's wording (a 500 there, from the driver)."""
        kw: dict[str, Any] = {}
        if MTU in options:
            try:
                kw["mtu"] = int(options[MTU])
            except ValueError:
                raise _option_error(MTU, "strconv.Atoi", "invalid syntax", options) from None
        for key, attr in ((ICC, "icc"), (MASQUERADE, "masquerade")):
            if key in options:
                kw[attr] = _go_bool(key, options)
        if options.get(HOST_BINDING):
            try:
                kw["host_ip"] = str(IPv4Address(options[HOST_BINDING]))
            except ValueError:
                raise errors.DockyardError(
                    f"failed to parse {HOST_BINDING} value: {options[HOST_BINDING]} (nil ip)"
                ) from None
        if options.get(IFACE_PREFIX):
            kw["iface_prefix"] = options[IFACE_PREFIX]
        return cls(**kw)


def _go_bool(key: str, options: dict[str, str]) -> bool:
    text = options[key]
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise _option_error(key, "strconv.ParseBool", "invalid syntax", options)


def _option_error(key: str, func: str, why: str, options: dict[str, str]) -> errors.DockyardError:
    value = options[key]
    return errors.DockyardError(
        f'failed to parse {key} value: {value} ({func}: parsing "{value}": {why})'
    )


@dataclass
class NetworkSpec:
    name: str
    subnet: IPv4Network | None  # None: pick one from the default pools
    gateway: IPv4Address | None
    ip_range: IPv4Network | None = None
    aux: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    def doc(self, subnet: IPv4Network, gateway: IPv4Address, device: str) -> Json:
        return {
            "Subnet": str(subnet),
            "Gateway": str(gateway),
            "Device": device,
            "UserSubnet": self.subnet is not None,
            "UserGateway": self.gateway is not None,
            "IPRange": str(self.ip_range) if self.ip_range else "",
            "AuxAddresses": self.aux,
            "Internal": self.internal,
            "Labels": self.labels,
            "Options": self.options,
        }


def _net(text: str, what: str) -> IPv4Network:
    try:
        net = IPv4Network(text, strict=False)
    except ValueError:
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid {what} {text}: invalid CIDR address: {text}"
        ) from None
    if str(net) != text:
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid {what} {text}: it should be {net}"
        )
    return net


def _addr(text: str, what: str, subnet: IPv4Network) -> IPv4Address:
    try:
        ip = IPv4Address(text)
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


def parse(body: Json) -> NetworkSpec:
    if not isinstance(body, dict):
        raise errors.InvalidParameter("invalid JSON body")
    name = str(body.get("Name") or "")
    if not name:
        raise errors.InvalidParameter("network name cannot be empty")  # docker-cli checks first
    if name in ("bridge", "host", "none"):
        raise errors.Forbidden(f"operation is not permitted on predefined {name} network ")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise errors.NotFound(
            f"could not find plugin {driver} in v1 plugin registry: plugin not found"
        )
    if body.get("EnableIPv6"):
        raise errors.Unsupported("IPv6 networks are not supported")
    ipam_doc = body.get("IPAM") or {}
    configs = ipam_doc.get("Config") or []
    if len(configs) > 1:
        raise errors.Unsupported("only one IPv4 subnet per network is supported")
    options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
    BridgeOptions.of(options)  # validates; the typed view is rebuilt from the stored doc
    device = options.get(BRIDGE_NAME, "")
    if len(device) > 15:
        raise errors.InvalidParameter(f"invalid bridge name {device}: longer than 15 characters")
    spec = NetworkSpec(
        name, None, None, internal=bool(body.get("Internal")),
        labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
        options=options,
    )  # fmt: skip
    if not configs:
        return spec
    cfg = configs[0] or {}
    if not cfg.get("Subnet"):
        if cfg.get("Gateway") or cfg.get("IPRange") or cfg.get("AuxiliaryAddresses"):
            raise errors.InvalidParameter(
                "invalid network config:\nnon-empty gateway or ip-range without a subnet"
            )
        return spec
    subnet = _net(str(cfg["Subnet"]), "subnet")
    if subnet.prefixlen > 30:
        raise errors.InvalidParameter(
            f"invalid network config:\ninvalid subnet {subnet}: too small for a bridge network"
        )
    spec.subnet = subnet
    if cfg.get("IPRange"):
        rng = _net(str(cfg["IPRange"]), "ip-range")
        if not rng.subnet_of(subnet):
            raise errors.InvalidParameter(
                f"invalid network config:\ninvalid ip-range {rng}: it must be a subnet of {subnet}"
            )
        spec.ip_range = rng
    if cfg.get("Gateway"):
        spec.gateway = _addr(str(cfg["Gateway"]), "gateway", subnet)
    for key, text in (cfg.get("AuxiliaryAddresses") or {}).items():
        spec.aux[str(key)] = str(_addr(str(text), "auxiliary address", subnet))
    return spec


def choose(
    spec: NetworkSpec, pools: tuple[ipam.Pool, ...], taken: list[IPv4Network]
) -> tuple[IPv4Network, IPv4Address]:
    """The subnet and gateway: the user's (refused when overlapping another network or a host
    route), or the first free default pool."""
    if spec.subnet is None:
        subnet = ipam.choose_subnet(pools, taken)
    else:
        subnet = spec.subnet
        if any(subnet.overlaps(t) for t in taken if t.prefixlen > 0):
            raise errors.Forbidden(OVERLAP)
    return subnet, spec.gateway or ipam.gateway_of(subnet)


def reserved(doc: Json) -> list[IPv4Address]:
    """Addresses never handed to a container: the gateway and the aux addresses."""
    return [IPv4Address(doc["Gateway"])] + [
        IPv4Address(a) for a in (doc.get("AuxAddresses") or {}).values()
    ]


def pick(doc: Json, used: list[IPv4Address], want: str, name: str) -> IPv4Address:
    """The endpoint's address: `want` (--ip) if inside the subnet/ip-range and free, else the
    lowest free one of the ip-range (or subnet)."""
    subnet = IPv4Network(doc["Subnet"])
    taken = set(used) | set(reserved(doc))
    if want:
        ip = IPv4Address(want)
        if ip not in subnet:
            raise errors.InvalidParameter(
                "invalid endpoint settings:\n"
                f"no configured subnet or ip-range contain the IP address {ip}"
            )
        if ip in taken or ip in (subnet.network_address, subnet.broadcast_address):
            raise errors.Forbidden("Address already in use")
        return ip
    rng = IPv4Network(doc["IPRange"]) if doc.get("IPRange") else subnet
    return ipam.allocate(rng if rng.prefixlen < 31 else subnet, taken, name)
