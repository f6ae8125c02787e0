"""Docker-shaped documents: a container's `NetworkSettings`, an endpoint's entry in
`NetworkSettings.Networks`, and `GET /networks/{id}`."""

from __future__ import annotations

from dockyard.core.types import Json
from dockyard.network.records import NetworkRow

_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.driver.mtu": "1500",
}


def endpoint_settings(network_id: str) -> Json:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": network_id,
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": None,
    }


def network_settings(
    networks: dict[str, Json], sandbox_key: str = "", ports: Json | None = None
) -> Json:
    """The top-level fields mirror the default bridge's endpoint, as Docker's do."""
    primary = networks.get("bridge") or {}
    return {
        "Bridge": "",
        "SandboxID": (primary.get("EndpointID") or "")[::-1] if sandbox_key else "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports or {},
        "SandboxKey": sandbox_key,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": primary.get("EndpointID") or "",
        "Gateway": primary.get("Gateway") or "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": primary.get("IPAddress") or "",
        "IPPrefixLen": primary.get("IPPrefixLen") or 0,
        "IPv6Gateway": "",
        "MacAddress": primary.get("MacAddress") or "",
        "Networks": networks,
    }


def network_doc(row: NetworkRow, containers: Json) -> Json:
    config = []
    options: Json = {}
    user = row.name not in ("bridge", "host", "none")
    if row.driver == "bridge" and user:
        cfg: Json = {"Subnet": row.doc.get("Subnet", "")}
        if row.doc.get("IPRange"):
            cfg["IPRange"] = row.doc["IPRange"]
        if not row.doc.get("UserSubnet") or row.doc.get("UserGateway", True):
            cfg["Gateway"] = row.doc.get("Gateway", "")  # shown for a given subnet if given too
        if row.doc.get("AuxAddresses"):
            cfg["AuxiliaryAddresses"] = row.doc["AuxAddresses"]
        config = [cfg]
        options = dict(row.doc.get("Options") or {})
    elif row.driver == "bridge":
        config = [{"Subnet": row.doc.get("Subnet", ""), "Gateway": row.doc.get("Gateway", "")}]
        options = {**_BRIDGE_OPTIONS, "com.docker.network.bridge.name": row.doc.get("Device", "")}
    return {
        "Name": row.name,
        "Id": row.id,
        "Created": row.created,
        "Scope": "local",
        "Driver": row.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": config},
        "Internal": bool(row.doc.get("Internal")),
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": options,
        "Labels": dict(row.doc.get("Labels") or {}),
    }
