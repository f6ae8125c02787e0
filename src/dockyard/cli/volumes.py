"""`volume create|inspect|ls|rm|prune` (S8), docker-cli's flags, output and wording."""

from __future__ import annotations

import argparse

from dockyard.cli.client import quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session, UsageError, for_each
from dockyard.cli.containers import filters_json
from dockyard.cli.inspect import _typed, _typed_flags

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE",
              "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}  # fmt: skip
PRUNE_WARNING = (
    "WARNING! This will remove anonymous local volumes not used by at least one container."
)
PRUNE_ALL_WARNING = (
    "WARNING! This will remove all local volumes not used by at least one container."
)


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _create_flags(p: Parser) -> None:
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("--label", action="append")
    p.add_argument("-o", "--opt", action="append")
    p.add_argument("--name", default="")
    p.add_argument("volume", nargs="?", default="")


def _create(ns: argparse.Namespace, s: Session) -> int:
    if ns.name and ns.volume:
        raise CLIError(
            "conflicting options: either specify --name or provide positional arg, not both"
        )
    body = {
        "Name": ns.volume or ns.name,
        "Driver": ns.driver,
        "DriverOpts": _pairs(ns.opt, "--opt"),
        "Labels": _pairs(ns.label, "--label"),
    }
    vol = s.client.post("/volumes/create", None, body) or {}
    s.print(str(vol.get("Name", "")))
    return 0


class _Row:
    def __init__(self, v: dict[str, object]) -> None:
        self.v = v

    def __getattr__(self, name: str) -> object:
        if name == "Labels":
            labels = self.v.get("Labels") or {}
            assert isinstance(labels, dict)
            return ",".join(f"{k}={val}" for k, val in labels.items())
        if name in ("Links", "Size"):
            return "N/A"
        return self.v.get(name, "")


def _ls_flags(p: Parser) -> None:
    p.add_argument("-f", "--filter", action="append")
    p.add_argument("--format", default="")
    p.add_argument("-q", "--quiet", action="store_true")


def _ls(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.format import render

    result = s.client.get("/volumes", {"filters": filters_json(ns.filter)}) or {}
    vols = sorted(result.get("Volumes") or [], key=lambda v: str(v.get("Name", "")))
    if ns.quiet:
        for v in vols:
            s.print(str(v.get("Name", "")))
        return 0
    s.out.write(render([_Row(v) for v in vols], ns.format or LS_TABLE, LS_HEADERS))
    return 0


def _rm_flags(p: Parser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")


def _rm(ns: argparse.Namespace, s: Session) -> int:
    query = {"force": ns.force or None}
    return for_each(
        s, ns.volumes, lambda name: s.client.call("DELETE", f"/volumes/{quote_path(name)}", query)
    )


def _prune_flags(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--filter", action="append")
    p.add_argument("-f", "--force", action="store_true")


def prune_volumes(s: Session, filters: list[str], everything: bool) -> tuple[list[str], int]:
    if everything:
        filters = [*filters, "all=true"]
    report = s.client.post("/volumes/prune", {"filters": filters_json(filters)}) or {}
    return list(report.get("VolumesDeleted") or []), int(report.get("SpaceReclaimed") or 0)


def _prune(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.lifecycle import confirm, report_pruned

    if ns.all and any(f.startswith("all=") for f in ns.filter or []):
        raise UsageError("conflicting options: cannot specify both --all and --filter all=1")
    warning = PRUNE_ALL_WARNING if ns.all else PRUNE_WARNING
    if not ns.force and not confirm(s, warning):
        return 0
    deleted, reclaimed = prune_volumes(s, list(ns.filter or []), ns.all)
    report_pruned(s, "Deleted Volumes:", deleted, reclaimed)
    return 0


COMMANDS = {
    "create": Command("[OPTIONS] [VOLUME]", _create_flags, _create),
    "inspect": Command("[OPTIONS] VOLUME [VOLUME...]", _typed_flags, _typed("volume")),
    "ls": Command("[OPTIONS]", _ls_flags, _ls),
    "rm": Command("[OPTIONS] VOLUME [VOLUME...]", _rm_flags, _rm),
    "prune": Command("[OPTIONS]", _prune_flags, _prune),
}
