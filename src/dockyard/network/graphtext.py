"""The network graph (graph.py) as an indented tree for a terminal: each bridge with its subnet,
gateway and members (veth host end <-> container end, addresses, aliases, ports, links), then
the host-mode, `none` and `container:` containers."""

from __future__ import annotations

from dockyard.network.graph import ContainerNode, Endpoint, Graph, NetworkNode


def _network_line(n: NetworkNode) -> str:
    title = f"{n.bridge or '?'}  network {n.name}" + (" (default bridge)" if n.default else "")
    return "  ".join([title, *n.facts()])


def _member(c: ContainerNode, e: Endpoint) -> list[str]:
    index = f" #{e.veth.ifindex}" if e.veth.ifindex is not None else " (no such link)"
    peer = f" #{e.veth.peer_ifindex}" if e.veth.peer_ifindex is not None else ""
    lines = [f"{c.name}  {e.veth.name}{index} <-> {e.ifname}{peer}  {e.ip}/{e.prefix_len}"
             + (f"  {e.ip6}/{e.prefix_len6}" if e.ip6 else "")]  # fmt: skip
    aliases = [a for a in e.aliases if a]
    if aliases:
        lines.append("aliases " + ", ".join(aliases))
    if e.default_route:
        for p in c.ports:
            lines.append(f"port {p.host_ip}:{p.host_port} -> {p.container_port}/{p.proto}")
    for lk in c.links:
        if lk.network == e.network:
            state = "" if lk.target else " (not running)"
            lines.append(f"link {lk.name} as {lk.alias}{state}")
    return lines


def to_text(g: Graph) -> str:
    out: list[str] = []
    for n in g.networks:
        out.append(_network_line(n))
        members = [(c, e) for c in g.containers for e in c.endpoints if e.network_id == n.id]
        if not members:
            out.append("  (no containers)")
        for c, e in members:
            first, *rest = _member(c, e)
            out.append("  " + first)
            out.extend("      " + line for line in rest)
    host = g.host_members
    if host:
        out.append("host  (the host's network namespace)")
        out.extend(f"  {c.name}" for c in host)
    none = [c for c in g.containers if c.mode == "none"]
    if none:
        out.append("none  (loopback only)")
        out.extend(f"  {c.name}" for c in none)
    names = {c.id: c.name for c in g.containers}
    shared = [c for c in g.containers if c.mode == "container"]
    if shared:
        out.append("container:  (another container's network namespace)")
        for c in shared:
            owner = names.get(c.netns_of, "")
            out.append(f"  {c.name} -> {owner or c.network_mode + ' (not running)'}")
    if not out:
        out.append("(no networks)")
    return "\n".join(out) + "\n"
