"""`system prune` (S5): stopped containers, unused networks, (anonymous) volumes with
`--volumes`, dangling (or, with `-a`, unused) images and build cache, as docker-cli runs them:
one prune request per kind, then one total."""

from __future__ import annotations

import argparse
from typing import Any

from dockyard.cli.client import APIError
from dockyard.cli.command import Command, Parser, Session


def _flags(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--filter", action="append")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--volumes", action="store_true")


def _warning(ns: argparse.Namespace) -> str:
    lines = ["  - all stopped containers", "  - all networks not used by at least one container"]
    if ns.volumes:
        lines.append("  - all anonymous volumes not used by at least one container")
    lines.append(
        "  - all images without at least one container associated to them"
        if ns.all
        else "  - all dangling images"
    )
    lines.append("  - unused build cache" if not ns.all else "  - all build cache")
    return "WARNING! This will remove:\n" + "\n".join(lines) + "\n"


def _optional(s: Session, path: str, filters: str | None) -> dict[str, Any]:
    """A kind this daemon may not serve yet (networks, build cache) is skipped, not fatal."""
    try:
        result = s.client.post(path, {"filters": filters})
    except APIError as exc:
        if exc.status in (404, 501):
            return {}
        raise
    return result if isinstance(result, dict) else {}


def _prune(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.containers import filters_json
    from dockyard.cli.images import _print_deletions
    from dockyard.cli.lifecycle import confirm
    from dockyard.cli.volumes import prune_volumes
    from dockyard.units import human_size

    if not ns.force and not confirm(s, _warning(ns)):
        return 0
    pairs = list(ns.filter or [])
    total = 0
    report = s.client.post("/containers/prune", {"filters": filters_json(pairs)}) or {}
    total += int(report.get("SpaceReclaimed") or 0)
    sections: list[tuple[str, list[str]]] = [
        ("Deleted Containers:", list(report.get("ContainersDeleted") or []))
    ]
    nets = _optional(s, "/networks/prune", filters_json(pairs))
    sections.append(("Deleted Networks:", list(nets.get("NetworksDeleted") or [])))
    if ns.volumes:
        deleted, reclaimed = prune_volumes(s, pairs, False)
        total += reclaimed
        sections.append(("Deleted Volumes:", deleted))
    for title, items in sections:
        if items:
            s.print(title)
            for item in items:
                s.print(item)
            s.print()
    image_filters = [*pairs, f"dangling={'false' if ns.all else 'true'}"]
    images = s.client.post("/images/prune", {"filters": filters_json(image_filters)}) or {}
    total += int(images.get("SpaceReclaimed") or 0)
    if images.get("ImagesDeleted"):
        s.print("Deleted Images:")
        _print_deletions(s, images["ImagesDeleted"], lower=True)
        s.print()
    cache = _optional(s, "/build/prune", filters_json(["all=true"] if ns.all else []))
    total += int(cache.get("SpaceReclaimed") or 0)
    if cache.get("CachesDeleted"):
        s.print("Deleted build cache objects:")
        for item in cache["CachesDeleted"]:
            s.print(str(item))
        s.print()
    s.print(f"Total reclaimed space: {human_size(total)}")
    return 0


COMMANDS = {"system": Command("[OPTIONS]", _flags, _prune)}
