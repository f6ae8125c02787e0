"""Legacy links on the default bridge (N2): the /etc/hosts line and Docker's environment
variables for each linked container (moby daemon/links)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    name: str  # the target's name, without "/"
    alias: str


def parse(spec: str) -> Link:
    """`name[:alias]` as the CLI sends it, or the stored `/name:/parent/alias` form."""
    name, _, alias = spec.partition(":")
    name = name.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else name
    return Link(name, alias)


def hosts_entry(link: Link, hostname: str, ip: str) -> str:
    """A "names:ip" extra-hosts line: alias, the target's hostname, and its name if different."""
    names = [link.alias, hostname]
    if link.alias != link.name:
        names.append(link.name)
    return f"{' '.join(names)}:{ip}"


def _sort_key(spec: str) -> tuple[int, str]:
    port, _, proto = spec.partition("/")
    return (int(port) if port.isdigit() else 0, proto)


def env(
    link: Link, parent: str, ip: str, exposed: dict[str, object] | None, child_env: list[str]
) -> list[str]:
    prefix = link.alias.upper().replace("-", "_").replace(".", "_")
    out: list[str] = []
    ports = sorted(exposed or {}, key=_sort_key)
    if ports:
        port, _, proto = ports[0].partition("/")
        out.append(f"{prefix}_PORT={proto or 'tcp'}://{ip}:{port}")
    for spec in ports:
        port, _, proto = spec.partition("/")
        proto = proto or "tcp"
        base = f"{prefix}_PORT_{port}_{proto.upper()}"
        out += [
            f"{base}={proto}://{ip}:{port}",
            f"{base}_ADDR={ip}",
            f"{base}_PORT={port}",
            f"{base}_PROTO={proto}",
        ]
    out.append(f"{prefix}_NAME=/{parent}/{link.alias}")
    for item in child_env:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):
            out.append(f"{prefix}_ENV_{key}={value}")
    return out
