"""`network ls|inspect` and `port`, docker-cli's flags, output and wording."""

from __future__ import annotations

import argparse

from dockyard.cli.client import quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session
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


COMMANDS = {
    "ls": Command("[OPTIONS]", _ls_flags, _ls),
    "inspect": Command("[OPTIONS] NETWORK [NETWORK...]", _typed_flags, _typed("network")),
    "port": Command("CONTAINER [PRIVATE_PORT[/PROTO]]", _port_flags, _port),
}
