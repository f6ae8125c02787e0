"""`network create|rm|ls|inspect|prune|connect|disconnect` and `port`, docker-cli's flags,
output and wording; dockyard's own `network graph` (#18, B1)."""

from __future__ import annotations

import argparse

from dockyard.cli.client import APIError, quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session, for_each
from dockyard.cli.containers import filters_json
from dockyard.cli.inspect import _typed, _typed_flags

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
              "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
              "CreatedAt": "CREATED AT"}  # fmt: skip


class _Row:
    def __init__(self, n: dict[str, object], trunc: bool) -> None:
        self.n = n
        self.trunc = trunc

    def ID(self) -> str:
        ident = str(self.n.get("Id", ""))
        return ident[:12] if self.trunc else ident

    def IPv6(self) -> str:
        return str(bool(self.n.get("EnableIPv6"))).lower()

    def Internal(self) -> str:
        return str(bool(self.n.get("Internal"))).lower()

    def Labels(self) -> str:
        labels = self.n.get("Labels") or {}
        assert isinstance(labels, dict)
        return ",".join(f"{k}={v}" for k, v in labels.items())

    def CreatedAt(self) -> str:
        return str(self.n.get("Created", ""))

    def __getattr__(self, name: str) -> object:
        return self.n.get(name, "")


def _ls_flags(p: Parser) -> None:
    p.add_argument("-f", "--filter", action="append")
    p.add_argument("--format", default="")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")


def _ls(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.format import render

    nets = s.client.get("/networks", {"filters": filters_json(ns.filter)}) or []
    rows = sorted((_Row(n, not ns.no_trunc) for n in nets), key=lambda r: str(r.n.get("Name")))
    if ns.quiet:
        for r in rows:
            s.print(r.ID())
        return 0
    s.out.write(render(rows, ns.format or LS_TABLE, LS_HEADERS))
    return 0


def _port_flags(p: Parser) -> None:
    p.add_argument("container")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def _port(ns: argparse.Namespace, s: Session) -> int:
    info = s.client.get(f"/containers/{quote_path(ns.container)}/json") or {}
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if ns.private_port:
        port, _, proto = ns.private_port.partition("/")
        key = f"{port}/{proto or 'tcp'}"
        bindings = ports.get(key)
        if not bindings:
            raise CLIError(f"Error: No public port '{key}' published for {ns.container}")
        for b in bindings:
            s.print(f"{b.get('HostIp', '')}:{b.get('HostPort', '')}")
        return 0

    def order(key: str) -> tuple[int, str]:
        port, _, proto = key.partition("/")
        return (int(port) if port.isdigit() else 0, proto)

    for key in sorted(ports, key=order):
        for b in ports[key] or []:
            s.print(f"{key} -> {b.get('HostIp', '')}:{b.get('HostPort', '')}")
    return 0


PRUNE_WARNING = "WARNING! This will remove all custom networks not used by at least one container."


def _create_flags(p: Parser) -> None:
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet", action="append", default=[])
    p.add_argument("--gateway", action="append", default=[])
    p.add_argument("--ip-range", action="append", default=[])
    p.add_argument("--aux-address", action="append", default=[])
    p.add_argument("--internal", action="store_true")
    p.add_argument("--attachable", action="store_true")
    p.add_argument("--ipv6", action="store_true")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])


def _pairs(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def _create(ns: argparse.Namespace, s: Session) -> int:
    if len(ns.gateway) > len(ns.subnet) or len(ns.ip_range) > len(ns.subnet):
        raise CLIError("no matching subnet for gateway " + (ns.gateway or ns.ip_range)[-1])
    config = []
    for i, subnet in enumerate(ns.subnet):
        cfg: dict[str, object] = {"Subnet": subnet}
        if i < len(ns.ip_range):
            cfg["IPRange"] = ns.ip_range[i]
        if i < len(ns.gateway):
            cfg["Gateway"] = ns.gateway[i]
        if ns.aux_address:
            cfg["AuxiliaryAddresses"] = _pairs(ns.aux_address)
        config.append(cfg)
    body = {
        "Name": ns.name, "Driver": ns.driver, "Internal": ns.internal,
        "Attachable": ns.attachable, "EnableIPv6": ns.ipv6 or None,
        "IPAM": {"Driver": "default", "Config": config, "Options": {}},
        "Options": _pairs(ns.opt), "Labels": _pairs(ns.label),
    }  # fmt: skip
    result = s.client.post("/networks/create", None, body) or {}
    s.print(result.get("Id", ""))
    return 0


def _rm_flags(p: Parser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("networks", nargs="+", metavar="NETWORK")


def _rm(ns: argparse.Namespace, s: Session) -> int:
    def act(name: str) -> bool | None:
        try:
            s.client.call("DELETE", f"/networks/{quote_path(name)}")
        except APIError as exc:
            if not (ns.force and exc.status == 404):
                raise
            return False  # -f: a missing network is skipped silently
        return None

    return for_each(s, ns.networks, act)


def _prune_flags(p: Parser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append")


def _prune(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.lifecycle import confirm

    if not ns.force and not confirm(s, PRUNE_WARNING):
        return 0
    report = s.client.post("/networks/prune", {"filters": filters_json(ns.filter)}) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        s.print("Deleted Networks:")
        for name in deleted:
            s.print(name)
    return 0


def _connect_flags(p: Parser) -> None:
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("--ip", default="")
    p.add_argument("--ip6", default="")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--link-local-ip", action="append", default=[])
    p.add_argument("--driver-opt", action="append", default=[])


def _connect(ns: argparse.Namespace, s: Session) -> int:
    ep: dict[str, object] = {}
    ipam = {"IPv4Address": ns.ip, "IPv6Address": ns.ip6, "LinkLocalIPs": ns.link_local_ip}
    if any(ipam.values()):
        ep["IPAMConfig"] = {k: v for k, v in ipam.items() if v}
    if ns.alias:
        ep["Aliases"] = ns.alias
    if ns.link:
        ep["Links"] = ns.link
    if ns.driver_opt:
        ep["DriverOpts"] = dict(o.partition("=")[::2] for o in ns.driver_opt)
    body = {"Container": ns.container, "EndpointConfig": ep}
    s.client.post(f"/networks/{quote_path(ns.network)}/connect", None, body)
    return 0


def _disconnect_flags(p: Parser) -> None:
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true")


def _disconnect(ns: argparse.Namespace, s: Session) -> int:
    body = {"Container": ns.container, "Force": ns.force}
    s.client.post(f"/networks/{quote_path(ns.network)}/disconnect", None, body)
    return 0


GRAPH_FORMATS = ("text", "dot", "svg", "json")


def _graph_flags(p: Parser) -> None:
    p.add_argument("--format", choices=GRAPH_FORMATS, default=None,
                   help="text (the default on a terminal), dot (else), svg or json")  # fmt: skip
    p.add_argument("-o", "--output", default="", help="write to this file instead of stdout")


def _graph(ns: argparse.Namespace, s: Session) -> int:
    """The daemon's `GET /dockyard/network/graph`, written as it comes (svg and dot as bytes,
    json indented). Without --format: a text tree on a terminal, DOT for a pipe or a file
    (`dockyard network graph | dot -Tpng > net.png`)."""
    fmt = ns.format
    if fmt is None:
        fmt = "text" if not ns.output and s.out.isatty() else "dot"
    resp = s.client.request("GET", "/dockyard/network/graph", {"format": fmt})
    body = resp.read()
    resp.close()
    if fmt == "json":
        import json

        body = (json.dumps(json.loads(body), indent=4) + "\n").encode()
    if ns.output:
        with open(ns.output, "wb") as f:
            f.write(body)
        return 0
    s.out.flush()
    buf = getattr(s.out, "buffer", None)
    if buf is not None:
        buf.write(body)
        buf.flush()
    else:
        s.out.write(body.decode())
    return 0


COMMANDS = {
    "create": Command("[OPTIONS] NETWORK", _create_flags, _create),
    "rm": Command("NETWORK [NETWORK...]", _rm_flags, _rm),
    "prune": Command("[OPTIONS]", _prune_flags, _prune),
    "connect": Command("[OPTIONS] NETWORK CONTAINER", _connect_flags, _connect),
    "disconnect": Command("[OPTIONS] NETWORK CONTAINER", _disconnect_flags, _disconnect),
    "ls": Command("[OPTIONS]", _ls_flags, _ls),
    "inspect": Command("[OPTIONS] NETWORK [NETWORK...]", _typed_flags, _typed("network")),
    "port": Command("CONTAINER [PRIVATE_PORT[/PROTO]]", _port_flags, _port),
    "graph": Command("[OPTIONS]", _graph_flags, _graph),
}
