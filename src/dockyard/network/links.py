"""Legacy links on the default bridge (N2): the /etc/hosts line and Docker's environment
variables for each linked container (moby daemon/links)."""

from __future__ import annotations

from dockyard.core.linkspec import Link, parse

__all__ = ["Link", "env", "hosts_entry", "parse"]


def hosts_entry(link: Link, hostname: str, ip: str) -> str:
    """A "names:ip" extra-hosts line: alias, the target's hostname, and its name if different."""
    names = [link.alias, hostname]
    if link.alias != link.name:
        names.append(link.name)
    return f"{' '.join(names)}:{ip}"


def _port(spec: str) -> tuple[int, str]:
    port, _, proto = spec.partition("/")
    return (int(port) if port.isdigit() else 0, (proto or "tcp").lower())


def _order(p: tuple[int, str]) -> tuple[int, int, str]:
    """dockerd 20.10's order: by number, tcp first among equal numbers."""
    return (p[0], 0 if p[1] == "tcp" else 1, p[1])


def _run_end(ports: list[tuple[int, str]], i: int) -> int:
    """The index of the last port of the run starting at i. As dockerd 20.10 counts it: by
    number only (the protocol is ignored), and a repeated number continues the run."""
    value = ports[i][0]
    for k in range(i + 1, len(ports)):
        if ports[k][0] > value + 1:
            return k - 1
        value += 1
    return len(ports) - 1


def env(
    link: Link, parent: str, ip: str, exposed: dict[str, object] | None, child_env: list[str]
) -> list[str]:
    """dockerd 20.10's variables (D-net-10): the lowest port as ALIAS_PORT; for each run of
    three or more consecutive ports its _START/_ADDR/_PROTO/_PORT_START/_END/_PORT_END (the
    end's protocol in the _END names); then four variables per port; the name; the target's
    env. A name set twice keeps its first place, as Docker merges the environment."""
    prefix = link.alias.upper().replace("-", "_")
    ports = sorted({_port(spec) for spec in exposed or {}}, key=_order)
    out: list[str] = []

    def var(p: tuple[int, str], proto: str, suffix: str, value: object) -> None:
        out.append(f"{prefix}_PORT_{p[0]}_{proto.upper()}{suffix}={value}")

    if ports:
        out.append(f"{prefix}_PORT={ports[0][1]}://{ip}:{ports[0][0]}")
    i = 0
    while i < len(ports):
        j = _run_end(ports, i)
        if j <= i + 1:
            i += 1
            continue
        (num, proto), (end, end_proto) = ports[i], ports[j]
        var(ports[i], proto, "_START", f"{proto}://{ip}:{num}")
        var(ports[i], proto, "_ADDR", ip)
        var(ports[i], proto, "_PROTO", proto)
        var(ports[i], proto, "_PORT_START", num)
        var(ports[i], end_proto, "_END", f"{end_proto}://{ip}:{end}")
        var(ports[i], end_proto, "_PORT_END", end)
        i = j + 1
    for p in ports:
        var(p, p[1], "", f"{p[1]}://{ip}:{p[0]}")
        var(p, p[1], "_ADDR", ip)
        var(p, p[1], "_PORT", p[0])
        var(p, p[1], "_PROTO", p[1])
    out.append(f"{prefix}_NAME=/{parent}/{link.alias}")
    for item in child_env:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):
            out.append(f"{prefix}_ENV_{key}={value}")
    merged: dict[str, str] = {}
    for item in out:
        key, _, value = item.partition("=")
        merged[key] = value
    return [f"{k}={v}" for k, v in merged.items()]
