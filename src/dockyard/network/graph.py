"""The network as a graph (#18 item 3, B1; N1-N5): bridges with their subnets and gateways, each
running container's endpoints (the veth pair: host-side name from the endpoint row, its ifindex
and peer ifindex from the kernel, the container-side name), addresses and aliases, legacy and
user-network links, published ports, and the `host`, `none` and `container:` modes.

A pure model: `build()` takes the daemon's records (network and endpoint rows, container
records) and the kernel's facts about host links (`LinkFact`, read by netlink.link_facts) and
returns a `Graph`; `Graph.to_json()` is the `format=json` answer, whose shape
docs/network-graph.md documents. The renderers (graphdot.py, graphtext.py) only read a Graph."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dockyard.core.container import ContainerRecord
from dockyard.core.linkspec import parse as parse_link
from dockyard.core.types import Json
from dockyard.network.records import EndpointRow, NetworkRow

VERSION = 1
HOST_NODE = "host"
LIVE = ("running", "paused", "restarting")


@dataclass(frozen=True)
class LinkFact:
    """A host link as the kernel shows it: its index, a veth's peer index (iflink: the
    container-side interface's index in the container's netns), its bridge, operstate."""

    name: str
    index: int
    peer_index: int | None = None
    master: str = ""
    up: bool = False


@dataclass
class NetworkNode:
    id: str
    name: str
    driver: str
    bridge: str
    subnet: str
    gateway: str
    subnet6: str = ""
    gateway6: str = ""
    internal: bool = False
    default: bool = False  # the default bridge (`bridge`)
    kernel: LinkFact | None = None  # the bridge device; None: absent

    @property
    def node(self) -> str:
        return f"net:{self.id[:12]}"

    def facts(self) -> list[str]:
        """What every renderer says of the network besides its names."""
        out = [f"subnet {subnet}  gateway {gateway}"
               for subnet, gateway in ((self.subnet, self.gateway), (self.subnet6, self.gateway6))
               if subnet]  # fmt: skip
        if self.internal:
            out.append("internal")
        if self.kernel is None:
            out.append("(no such link)")
        elif not self.kernel.up:
            out.append("(down)")
        return out


@dataclass
class Veth:
    name: str  # the host end
    ifindex: int | None = None  # None: the kernel has no such link
    peer_ifindex: int | None = None  # the container end's index, in the container's netns
    master: str = ""  # the bridge the host end is enslaved to
    up: bool = False


@dataclass
class Endpoint:
    network: str
    network_id: str
    endpoint_id: str
    ifname: str  # the container end (eth0, eth1, ...)
    ip: str
    prefix_len: int
    ip6: str
    prefix_len6: int
    mac: str
    gateway: str  # the network's gateway, as inspect shows it
    default_route: bool  # the gateway endpoint: default route and published ports
    aliases: list[str]
    veth: Veth


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: int
    container_port: int
    proto: str
    network: str  # the gateway endpoint's network: where the DNAT points

    @property
    def node(self) -> str:
        return f"port:{self.host_ip}:{self.host_port}/{self.proto}"


@dataclass(frozen=True)
class Link:
    name: str  # the target container's name
    alias: str
    network: str  # "bridge" for legacy links, else the user network's name
    target: str = ""  # the target's id; "" when it is not running


@dataclass
class ContainerNode:
    id: str
    name: str
    image: str
    state: str
    network_mode: str  # as HostConfig.NetworkMode shows it
    mode: str  # "bridge" (own netns on networks), "host", "none", "container"
    netns_of: str = ""  # container mode: the id of the container whose netns it shares
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    @property
    def node(self) -> str:
        return f"ctr:{self.id[:12]}"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # endpoint, port, link, netns, host
    label: str = ""


@dataclass
class Graph:
    networks: list[NetworkNode]
    containers: list[ContainerNode]
    edges: list[Edge]

    @property
    def host_members(self) -> list[ContainerNode]:
        return [c for c in self.containers if c.mode == "host"]

    def members(self, net: NetworkNode) -> list[str]:
        """The ids of the containers with an endpoint on `net`, in the graph's order."""
        return [c.id for c in self.containers if any(e.network_id == net.id for e in c.endpoints)]

    def to_json(self) -> Json:
        return {
            "Version": VERSION,
            "Host": {"Node": HOST_NODE, "Containers": [c.id for c in self.host_members]},
            "Networks": [_network_json(n, self.members(n)) for n in self.networks],
            "Containers": [_container_json(c) for c in self.containers],
            "Ports": [
                {"Node": p.node, "Container": c.id, **_port_json(p)}
                for c in self.containers
                for p in c.ports
            ],
            "Edges": [
                {"From": e.source, "To": e.target, "Kind": e.kind, "Label": e.label}
                for e in self.edges
            ],
        }


def _fact_json(f: LinkFact | None) -> Json | None:
    if f is None:
        return None
    return {"Ifindex": f.index, "Up": f.up}


def _network_json(n: NetworkNode, members: list[str]) -> Json:
    return {
        "Node": n.node, "Id": n.id, "Name": n.name, "Driver": n.driver, "Bridge": n.bridge,
        "Subnet": n.subnet, "Gateway": n.gateway, "IPv6Subnet": n.subnet6,
        "IPv6Gateway": n.gateway6, "Internal": n.internal, "Default": n.default,
        "Kernel": _fact_json(n.kernel), "Containers": members,
    }  # fmt: skip


def _port_json(p: Port) -> Json:
    return {"HostIp": p.host_ip, "HostPort": p.host_port, "ContainerPort": p.container_port,
            "Proto": p.proto, "Network": p.network}  # fmt: skip


def _container_json(c: ContainerNode) -> Json:
    return {
        "Node": c.node, "Id": c.id, "Name": c.name, "Image": c.image, "State": c.state,
        "NetworkMode": c.network_mode, "Mode": c.mode, "NetnsOf": c.netns_of,
        "Endpoints": [
            {"Network": e.network, "NetworkID": e.network_id, "EndpointID": e.endpoint_id,
             "Ifname": e.ifname, "IPAddress": e.ip, "IPPrefixLen": e.prefix_len,
             "GlobalIPv6Address": e.ip6, "GlobalIPv6PrefixLen": e.prefix_len6,
             "MacAddress": e.mac, "Gateway": e.gateway, "DefaultRoute": e.default_route,
             "Aliases": list(e.aliases),
             "Veth": {"Name": e.veth.name, "Ifindex": e.veth.ifindex,
                      "PeerIfindex": e.veth.peer_ifindex, "Master": e.veth.master,
                      "Up": e.veth.up}}
            for e in c.endpoints
        ],
        "Ports": [_port_json(p) for p in c.ports],
        "Links": [{"Name": lk.name, "Alias": lk.alias, "Network": lk.network,
                   "Container": lk.target} for lk in c.links],
    }  # fmt: skip


# ---- building ----------------------------------------------------------------------------------


def mode_of(network_mode: str) -> str:
    if network_mode in ("host", "none"):
        return network_mode
    if network_mode.startswith("container:"):
        return "container"
    return "bridge"


def _network(row: NetworkRow, kernel: dict[str, LinkFact]) -> NetworkNode:
    doc = row.doc
    bridge = str(doc.get("Device") or "")
    return NetworkNode(
        id=row.id, name=row.name, driver=row.driver, bridge=bridge,
        subnet=str(doc.get("Subnet") or ""), gateway=str(doc.get("Gateway") or ""),
        subnet6=str(doc.get("Subnet6") or ""), gateway6=str(doc.get("Gateway6") or ""),
        internal=bool(doc.get("Internal")), default=row.name == "bridge",
        kernel=kernel.get(bridge) if bridge else None,
    )  # fmt: skip


def _veth(name: str, kernel: dict[str, LinkFact]) -> Veth:
    fact = kernel.get(name)
    if fact is None:
        return Veth(name)
    return Veth(name, fact.index, fact.peer_index, fact.master, fact.up)


def _endpoints(
    rec: ContainerRecord,
    rows: dict[str, EndpointRow],
    kernel: dict[str, LinkFact],
) -> list[Endpoint]:
    """The container's NetworkSettings.Networks (what inspect shows), each joined with its
    endpoint row (veth, interface name) by network id; in interface order."""
    out = []
    nets = (rec.doc.get("NetworkSettings") or {}).get("Networks") or {}
    for name, s in nets.items():
        ep = rows.get(str(s.get("NetworkID") or ""))
        if ep is None:
            continue  # host, none: no endpoint of ours
        out.append(Endpoint(
            network=name, network_id=ep.network_id, endpoint_id=ep.endpoint_id,
            ifname=str(ep.doc.get("ifname") or "eth0"), ip=str(s.get("IPAddress") or ""),
            prefix_len=int(s.get("IPPrefixLen") or 0),
            ip6=str(s.get("GlobalIPv6Address") or ""),
            prefix_len6=int(s.get("GlobalIPv6PrefixLen") or 0),
            mac=str(s.get("MacAddress") or ""), gateway=str(s.get("Gateway") or ""),
            default_route=bool(ep.doc.get("gateway")),
            aliases=[str(a) for a in s.get("Aliases") or []], veth=_veth(ep.veth, kernel),
        ))  # fmt: skip
    out.sort(key=lambda e: _ifname_order(e.ifname))
    return out


def _ifname_order(name: str) -> tuple[str, int]:
    base = name.rstrip("0123456789")
    digits = name[len(base) :]
    return (base, int(digits) if digits else -1)


def _ports(rec: ContainerRecord, eps: list[Endpoint], rows: dict[str, EndpointRow]) -> list[Port]:
    """What the gateway endpoint's row DNATs (the records), sorted as `docker port` lists."""
    out = []
    for e in eps:
        ep = rows[e.network_id]
        for p in ep.doc.get("ports") or []:
            out.append(Port(str(p["host_ip"]), int(p["host_port"]), int(p["container_port"]),
                            str(p["proto"]), e.network))  # fmt: skip
    return sorted(out, key=lambda p: (p.container_port, p.proto, p.host_ip, p.host_port))


def _links(rec: ContainerRecord, network_mode: str, by_name: dict[str, str]) -> list[Link]:
    """`--link`s (HostConfig.Links: on the default bridge legacy links, on a user network
    mode that network's endpoint links, as libnetwork has them) and endpoint Links (connect
    --link), each once, with its target's id when it runs."""
    primary = "bridge" if network_mode == "default" else network_mode
    specs = [(str(spec), primary) for spec in rec.host_config.get("Links") or []]
    nets = (rec.doc.get("NetworkSettings") or {}).get("Networks") or {}
    specs += [(str(spec), net) for net, s in nets.items() for spec in s.get("Links") or []]
    out: dict[Link, None] = {}
    for spec, net in specs:
        lk = parse_link(spec)
        out[Link(lk.name, lk.alias, net, by_name.get(lk.name, ""))] = None
    return list(out)


def _container(
    rec: ContainerRecord,
    rows: dict[str, EndpointRow],
    kernel: dict[str, LinkFact],
    by_name: dict[str, str],
) -> ContainerNode:
    network_mode = str(rec.host_config.get("NetworkMode") or "default")
    mode = mode_of(network_mode)
    node = ContainerNode(
        id=rec.id, name=rec.name, image=str(rec.config.get("Image") or ""),
        state=str(rec.state.get("Status") or ""), network_mode=network_mode, mode=mode,
    )  # fmt: skip
    if mode == "container":
        ref = network_mode.removeprefix("container:")
        # a name, else an id or its prefix; "" when that container does not run
        node.netns_of = by_name.get(ref) or next(
            (i for i in by_name.values() if ref and i.startswith(ref)), ""
        )
    if mode == "bridge":
        node.endpoints = _endpoints(rec, rows, kernel)
        node.ports = _ports(rec, node.endpoints, rows)
        node.links = _links(rec, network_mode, by_name)
    return node


def _endpoint_label(e: Endpoint) -> str:
    lines = [f"{e.veth.name} \u2194 {e.ifname}", f"{e.ip}/{e.prefix_len}"]
    if e.ip6:
        lines.append(f"{e.ip6}/{e.prefix_len6}")
    aliases = [a for a in e.aliases if a]
    if aliases:
        lines.append("aliases: " + ", ".join(aliases))
    return "\n".join(lines)


def _edges(networks: list[NetworkNode], containers: list[ContainerNode]) -> list[Edge]:
    by_net = {n.id: n for n in networks}
    by_id = {c.id: c for c in containers}
    edges: list[Edge] = []
    for c in containers:
        if c.mode == "host":
            edges.append(Edge(HOST_NODE, c.node, "host", "host network"))
        elif c.mode == "container" and c.netns_of in by_id:
            edges.append(Edge(c.node, by_id[c.netns_of].node, "netns", "shares netns"))
        for e in c.endpoints:
            net = by_net.get(e.network_id)
            if net is not None:
                edges.append(Edge(net.node, c.node, "endpoint", _endpoint_label(e)))
        for p in c.ports:
            edges.append(Edge(p.node, c.node, "port", f"{p.container_port}/{p.proto}"))
        for lk in c.links:
            if lk.target in by_id:
                label = lk.alias if lk.alias == lk.name else f"{lk.alias} ({lk.name})"
                edges.append(Edge(c.node, by_id[lk.target].node, "link", f"link: {label}"))
    return edges


def build(
    networks: Iterable[NetworkRow],
    endpoints: Iterable[EndpointRow],
    containers: Iterable[ContainerRecord],
    kernel: Iterable[LinkFact],
) -> Graph:
    """The graph of the bridge networks and the live containers (running, paused,
    restarting: a stopped container has no netns, no endpoints and no ports)."""
    facts = {f.name: f for f in kernel}
    nets = [_network(r, facts) for r in networks if r.driver == "bridge"]
    live = sorted((r for r in containers if r.state.get("Status") in LIVE), key=lambda r: r.name)
    by_name = {r.name: r.id for r in live}
    rows: dict[str, dict[str, EndpointRow]] = {}
    for ep in endpoints:
        rows.setdefault(ep.container_id, {})[ep.network_id] = ep
    nodes = [_container(r, rows.get(r.id, {}), facts, by_name) for r in live]
    return Graph(nets, nodes, _edges(nets, nodes))
