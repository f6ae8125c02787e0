"""`daemon.json`, dockerd's configuration file, for `dockyard daemon` (E5 and the daemon flags):
`--config-file` (default /etc/dockyard/daemon.json; a missing default file is no error). Its keys
are the long flag names (plural for the repeatable ones, as dockerd's: `registry-mirrors`,
`insecure-registries`, `exec-opts`, `hosts`...); a key also given as a flag, or one that matches
no option, stops the daemon with dockerd's wording."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/etc/dockyard/daemon.json"

# file key -> (namespace attribute, kind)
KEYS: dict[str, tuple[str, str]] = {
    "hosts": ("host", "list"),
    "data-root": ("data_root", "str"),
    "exec-root": ("exec_root", "str"),
    "log-level": ("log_level", "str"),
    "debug": ("debug", "bool"),
    "pidfile": ("pidfile", "str"),
    "cgroup-parent": ("cgroup_parent", "str"),
    "exec-opts": ("exec_opt", "list"),
    "bridge": ("bridge", "str"),
    "bip": ("bip", "str"),
    "ipv6": ("ipv6", "bool"),
    "fixed-cidr-v6": ("fixed_cidr_v6", "str"),
    "default-address-pools": ("default_address_pool", "pools"),
    "iptables": ("iptables", "flag"),
    "registry-mirrors": ("registry_mirror", "list"),
    "insecure-registries": ("insecure_registry", "list"),
    "max-concurrent-downloads": ("max_concurrent_downloads", "int"),
    "max-concurrent-uploads": ("max_concurrent_uploads", "int"),
    "max-download-attempts": ("max_download_attempts", "int"),
    "init": ("init", "bool"),
    "init-path": ("init_path", "str"),
    "log-driver": ("log_driver", "str"),
    "log-opts": ("log_opt", "map"),
    "dashboard": ("dashboard", "dashboard"),  # dockyard's own: true (a free port) or a port
    "recycle-idle": ("recycle_idle", "int"),  # dockyard's own: seconds, 0 never (recycle.py)
}


class ConfigError(Exception):
    pass


def _value(key: str, kind: str, raw: Any) -> Any:
    if kind == "list":
        if not isinstance(raw, list):
            raise ConfigError(f"{key}: a list is expected")
        return [str(v) for v in raw]
    if kind == "pools":
        if not isinstance(raw, list):
            raise ConfigError(f"{key}: a list is expected")
        return [f"base={p.get('base')},size={p.get('size')}" for p in raw if isinstance(p, dict)]
    if kind == "map":
        if not isinstance(raw, dict):
            raise ConfigError(f"{key}: an object is expected")
        return [f"{k}={v}" for k, v in raw.items()]
    if kind == "dashboard":
        if raw is False or raw is None:
            return None
        if raw is True:
            return 0
        if isinstance(raw, int):
            return raw
        raise ConfigError(f"{key}: true, false or a port number is expected")
    if kind == "bool":
        return bool(raw)
    if kind == "flag":
        return "true" if raw else "false"
    if kind == "int":
        return int(raw)
    return str(raw)


def apply(ns: argparse.Namespace, explicit: set[str], path: str, required: bool) -> None:
    """Fill `ns` from the file at `path`; `explicit` holds the attributes set by flags."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"unable to configure the Docker daemon with file {path}: open {path}: no such file or directory"
            ) from None
        return
    except ValueError as e:
        raise ConfigError(f"unable to configure the Docker daemon with file {path}: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(
            f"unable to configure the Docker daemon with file {path}: not a JSON object"
        )
    unknown = sorted(k for k in doc if k not in KEYS)
    if unknown:
        raise ConfigError(
            "the following directives don't match any configuration option: " + ", ".join(unknown)
        )
    conflicts = []
    for key, raw in doc.items():
        attr, kind = KEYS[key]
        value = _value(key, kind, raw)
        if attr in explicit:
            conflicts.append(f"{key}: (from flag: {getattr(ns, attr)}, from file: {value})")
            continue
        setattr(ns, attr, value)
    if conflicts:
        raise ConfigError(
            "the following directives are specified both as a flag and in the configuration "
            "file: " + ", ".join(conflicts)
        )


def validate(ns: argparse.Namespace) -> None:
    """Values dockerd refuses to start with, whether a flag or the file gave them."""
    if ns.max_download_attempts <= 0:
        raise ConfigError(f"invalid max download attempts: {ns.max_download_attempts}")
    dashboard = getattr(ns, "dashboard", None)
    if dashboard is not None and not 0 <= dashboard <= 65535:
        raise ConfigError(f"invalid dashboard port: {dashboard}")


def explicit_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The attributes the command line itself sets (the others still hold their defaults)."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs: dict[str, Any] = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, argparse._StoreTrueAction):
                kwargs["action"] = "store_true"
            elif isinstance(action, argparse._AppendAction):
                kwargs["action"] = "append"
            elif action.nargs == "?":  # `--dashboard [PORT]`
                kwargs.update(nargs="?", const=action.const)
            probe.add_argument(*action.option_strings, **kwargs)
    found, _ = probe.parse_known_args(argv)
    return set(vars(found))
