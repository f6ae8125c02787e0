"""`POST /networks/create` bodies, pure: validation with Docker's wording, then the stored doc
of a user-defined bridge network (subnet, gateway, ip-range, aux addresses, options, labels).
Nothing here touches the host or the database; usernets.py does, after this passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from dockyard import errors
from dockyard.core.types import Json
from dockyard.network import ipam, spec6

BRIDGE_NAME = "com.docker.network.bridge.name"
OVERLAP = "Pool overlaps with other one on this address space"  # dockerd 20.10's words
MTU = "com.docker.network.driver.mtu"
OVERLAY = "overlay"
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
    v6: spec6.Config6 | None = None
    ipv6: bool = False  # EnableIPv6: endpoints get addresses from v6
    driver: str = "bridge"  # or "overlay": swarm scope (network/overlay.py)
    attachable: bool = False
    ingress: bool = False

    def doc(self, subnet: IPv4Network, gateway: IPv4Address, device: str) -> Json:
        swarm = (
            {"Scope": "swarm", "Attachable": self.attachable, "Ingress": self.ingress}
            if self.driver == OVERLAY
            else {}
        )
        return {
            **swarm,
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
            **spec6.doc(self.v6, self.ipv6),
        }


def _net(text: str, what: str) -> IPv4Network:
    return ipam.config_net(text, what, IPv4Network)


def _addr(text: str, what: str, subnet: IPv4Network) -> IPv4Address:
    return ipam.config_addr(text, what, subnet, IPv4Address)


def parse(body: Json) -> NetworkSpec:
    if not isinstance(body, dict):
        raise errors.InvalidParameter("invalid JSON body")
    name = str(body.get("Name") or "")
    if not name:
        raise errors.InvalidParameter("network name cannot be empty")  # docker-cli checks first
    if name in ("bridge", "host", "none"):
        raise errors.Forbidden(f"operation is not permitted on predefined {name} network ")
    driver = body.get("Driver") or "bridge"
    if driver not in ("bridge", OVERLAY):
        raise errors.NotFound(
            f"could not find plugin {driver} in v1 plugin registry: plugin not found"
        )
    scope = str(body.get("Scope") or "")
    if scope not in ("", "local", "swarm", "global"):
        raise errors.InvalidParameter(f"invalid network scope: {scope}")
    ipam_doc = body.get("IPAM") or {}
    given = [c or {} for c in ipam_doc.get("Config") or []]
    configs = [c for c in given if not spec6.is_v6(c)]
    configs6 = [c for c in given if spec6.is_v6(c)]
    if len(configs) > 1 or len(configs6) > 1:
        raise errors.Unsupported("only one IPv4 and one IPv6 subnet per network are supported")
    options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
    BridgeOptions.of(options)  # validates; the typed view is rebuilt from the stored doc
    device = options.get(BRIDGE_NAME, "")
    if len(device) > 15:
        raise errors.InvalidParameter(f"invalid bridge name {device}: longer than 15 characters")
    spec = NetworkSpec(
        name, None, None, internal=bool(body.get("Internal")),
        labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
        options=options, driver=driver, attachable=bool(body.get("Attachable")),
        ingress=bool(body.get("Ingress")),
    )  # fmt: skip
    spec.v6 = spec6.parse_config(configs6[0]) if configs6 else None
    spec.ipv6 = bool(body.get("EnableIPv6"))
    spec6.doc(spec.v6, spec.ipv6)  # EnableIPv6 without a v6 subnet: no pool, as dockerd
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
    spec: NetworkSpec,
    pools: tuple[ipam.Pool, ...],
    networks: list[IPv4Network],
    host: list[IPv4Network] | None = None,
) -> tuple[IPv4Network, IPv4Address]:
    """The subnet and gateway: the user's, refused only when it overlaps another network of
    this daemon (dockerd accepts one over a host route: it checks the host only when it picks
    a pool itself), or the first default pool free of both networks and host routes."""
    if spec.subnet is None:
        subnet = ipam.choose_subnet(pools, [*networks, *(host or [])])
    else:
        subnet = spec.subnet
        if any(subnet.overlaps(t) for t in networks if t.prefixlen > 0):
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
