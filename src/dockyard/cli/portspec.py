"""Parsing of the structured run flags: `-p/--expose` port specs (go-connections nat rules),
`--mount` CSV specs (docker opts.MountOpt) and `--ulimit`. Results are API-shaped dicts."""

from __future__ import annotations

import ipaddress
from typing import Any

from dockyard.cli.command import CLIError
from dockyard.units import ram_in_bytes


def _flag_err(value: str, flag: str, reason: str) -> CLIError:
    return CLIError(f'invalid argument "{value}" for "{flag}" flag: {reason}', 125)


def _port_range(text: str, raw: str) -> tuple[int, int]:
    start_s, _, end_s = text.partition("-")
    try:
        start = int(start_s)
        end = int(end_s) if end_s else start
    except ValueError:
        raise CLIError(f"invalid containerPort: {text}", 125) from None
    if not (0 < start <= 65535 and 0 < end <= 65535) or end < start:
        raise CLIError(f"invalid port range: {raw}", 125)
    return start, end


def _split_spec(raw: str) -> tuple[str, str, str]:
    """-> (ip, host port, container port) with `[v6]` brackets or bare v6 handled."""
    if raw.startswith("["):
        close = raw.find("]")
        ip, rest = raw[1:close], raw[close + 2 :]
        host, _, cont = rest.rpartition(":")
        return ip, host, cont
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_ports(
    publish: list[str], expose: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """-> (ExposedPorts, PortBindings) as docker-cli builds them."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in publish:
        body, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        ip, host, cont = _split_spec(body)
        if ip:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise CLIError(f"invalid IP address: {ip}", 125) from None
        if not cont:
            raise CLIError(f"no port specified: {spec}<empty>", 125)
        c0, c1 = _port_range(cont, spec)
        h0, h1 = _port_range(host, spec) if host else (0, 0)
        if host and (h1 - h0) != (c1 - c0) and c0 != c1:
            raise CLIError(
                f"invalid ranges specified for container and host Ports: {cont} and {host}", 125
            )
        for i in range(c1 - c0 + 1):
            port = f"{c0 + i}/{proto}"
            if not host:
                host_port = ""
            elif c0 == c1 and h0 != h1:
                host_port = f"{h0}-{h1}"
            else:
                host_port = str(h0 + i)
            exposed[port] = {}
            bindings.setdefault(port, []).append({"HostIp": ip, "HostPort": host_port})
    for spec in expose:
        body, _, proto = spec.partition("/")
        c0, c1 = _port_range(body, spec)
        for p in range(c0, c1 + 1):
            exposed[f"{p}/{(proto or 'tcp').lower()}"] = {}
    return exposed, bindings


def _bool(value: str | None, raw: str) -> bool:
    if value is None:
        return True
    low = value.lower()
    if low in ("1", "true", "t"):
        return True
    if low in ("0", "false", "f"):
        return False
    raise _flag_err(raw, "--mount", f"invalid value for readonly: {value}")


def parse_mount(raw: str) -> dict[str, Any]:
    """One `--mount type=...,source=...,target=...` into an API Mount object."""
    mount: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in raw.split(","):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        val: str | None = value if eq else None
        if key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool(val, raw)
        elif key == "consistency":
            mount["Consistency"] = value
        elif key == "bind-propagation":
            bind["Propagation"] = value
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _bool(val, raw)
        elif key == "volume-nocopy":
            volume["NoCopy"] = _bool(val, raw)
        elif key == "volume-subpath":
            volume["Subpath"] = value
        elif key == "volume-label":
            k, _, v = value.partition("=")
            volume.setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            try:
                tmpfs["SizeBytes"] = ram_in_bytes(value)
            except ValueError as exc:
                raise _flag_err(raw, "--mount", str(exc)) from None
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError:
                raise _flag_err(raw, "--mount", f"invalid value for {key}: {value}") from None
        else:
            raise _flag_err(raw, "--mount", f"unexpected key '{key}' in '{field}'")
    if not mount.get("Target"):
        raise _flag_err(raw, "--mount", "target is required")
    if bind:
        mount["BindOptions"] = bind
    if volume:
        mount["VolumeOptions"] = volume
    if tmpfs:
        mount["TmpfsOptions"] = tmpfs
    return mount


def parse_ulimit(raw: str) -> dict[str, Any]:
    name, _, limits = raw.partition("=")
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise _flag_err(raw, "--ulimit", f"invalid ulimit argument: {raw}") from None
    if not name or soft > hard:
        raise _flag_err(raw, "--ulimit", f"invalid ulimit argument: {raw}")
    return {"Name": name, "Soft": soft, "Hard": hard}
