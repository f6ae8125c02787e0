"""Docker-shaped documents: a container's `NetworkSettings`, an endpoint's entry in
`NetworkSettings.Networks`, and `GET /networks/{id}`."""

from __future__ import annotations

from dockyard.core.types import Json
from dockyard.network import spec6
from dockyard.network.records import NetworkRow

_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.driver.mtu": "1500",
}


# What a client configures on an endpoint (create's EndpointsConfig, connect's
# EndpointConfig): dockerd shows each as given, before and after start.
CONFIGURED = ("IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts")


def endpoint_settings(network_id: str, configured: Json | None = None) -> Json:
    """An entry of `NetworkSettings.Networks` with the configured fields of `configured`."""
    doc: Json = {
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
    for key in CONFIGURED:
        if configured and configured.get(key):
            doc[key] = configured[key]
    return doc


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
        "GlobalIPv6Address": primary.get("GlobalIPv6Address") or "",
        "GlobalIPv6PrefixLen": primary.get("GlobalIPv6PrefixLen") or 0,
        "IPAddress": primary.get("IPAddress") or "",
        "IPPrefixLen": primary.get("IPPrefixLen") or 0,
        "IPv6Gateway": primary.get("IPv6Gateway") or "",
        "MacAddress": primary.get("MacAddress") or "",
        "Networks": networks,
    }


def scope_of(row: NetworkRow) -> str:
    """ "local", or "swarm" for an overlay network (network/overlay.py)."""
    return str(row.doc.get("Scope") or "local")


def network_doc(row: NetworkRow, containers: Json) -> Json:
    config = []
    options: Json = {}
    user = row.name not in ("bridge", "host", "none")
    if row.driver in ("bridge", "overlay") and user:
        cfg: Json = {"Subnet": row.doc.get("Subnet", "")}
        if row.doc.get("IPRange"):
            cfg["IPRange"] = row.doc["IPRange"]
        # dockerd shows a given subnet's gateway only when it was given too
        if not row.doc.get("UserSubnet") or row.doc.get("UserGateway", True):
            cfg["Gateway"] = row.doc.get("Gateway", "")
        if row.doc.get("AuxAddresses"):
            cfg["AuxiliaryAddresses"] = row.doc["AuxAddresses"]
        config = [cfg]
        cfg6 = spec6.ipam_config(row.doc)
        if cfg6 is not None:
            config.append(cfg6)
        options = dict(row.doc.get("Options") or {})
    elif row.driver == "bridge":
        config = [{"Subnet": row.doc.get("Subnet", ""), "Gateway": row.doc.get("Gateway", "")}]
        if row.doc.get("Subnet6"):  # --fixed-cidr-v6
            config.append({"Subnet": row.doc["Subnet6"], "Gateway": row.doc["Gateway6"]})
        options = {**_BRIDGE_OPTIONS, "com.docker.network.bridge.name": row.doc.get("Device", "")}
    return {
        "Name": row.name,
        "Id": row.id,
        "Created": row.created,
        "Scope": scope_of(row),
        "Driver": row.driver,
        "EnableIPv6": bool(row.doc.get("EnableIPv6")),
        "IPAM": {"Driver": "default", "Options": None, "Config": config},
        "Internal": bool(row.doc.get("Internal")),
        "Attachable": bool(row.doc.get("Attachable")),
        "Ingress": bool(row.doc.get("Ingress")),
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": options,
        "Labels": dict(row.doc.get("Labels") or {}),
    }
