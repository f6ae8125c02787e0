"""Container read-side commands: ps, logs, top, diff, export, commit."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, BinaryIO

from dockyard.cli.client import APIError, quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session


def filters_json(pairs: list[str] | None) -> str | None:
    """`--filter k=v` (repeated) -> the API's `{"k":{"v":true}}` JSON."""
    if not pairs:
        return None
    import json

    out: dict[str, dict[str, bool]] = {}
    for pair in pairs:
        if "=" not in pair:
            raise CLIError(f"bad format of filter (expected name=value): {pair}", 125)
        key, value = pair.split("=", 1)
        out.setdefault(key.strip().lower(), {})[value] = True
    return json.dumps(out)


def _ps_flags(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("-l", "--latest", action="store_true")
    p.add_argument("-f", "--filter", action="append")
    p.add_argument("--format", default="")
    p.add_argument("--no-trunc", action="store_true")


def _ps(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.format import PS_TABLE, ContainerRow, render

    limit = 1 if ns.latest else ns.last
    fmt = ns.format or "table"
    size = ns.size and not ns.quiet
    if fmt == "table":
        fmt = "{{.ID}}" if ns.quiet else PS_TABLE + ("\t{{.Size}}" if size else "")
    elif ns.quiet:
        fmt = "{{.ID}}"
    # docker-cli only asks for sizes when the template shows them (they are expensive).
    size = size or ".Size" in fmt
    query: dict[str, Any] = {
        "all": True if ns.all or limit > 0 else None,
        "size": True if size else None,
        "limit": limit if limit > 0 else None,
        "filters": filters_json(ns.filter),
    }
    containers = s.client.get("/containers/json", query)
    now = time.time()
    rows = [ContainerRow(c, trunc=not ns.no_trunc, now=now) for c in containers]
    s.out.write(render(rows, fmt))
    return 0


def _container_tty(s: Session, name: str) -> bool:
    info = s.client.get(f"/containers/{quote_path(name)}/json")
    return bool((info.get("Config") or {}).get("Tty"))


def _logs_flags(p: Parser) -> None:
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--since", default="")
    p.add_argument("--until", default="")
    p.add_argument("--details", action="store_true")
    p.add_argument("container")


def _logs(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.streams import copy_output
    from dockyard.core.timefmt import api_timestamp

    now = time.time()
    try:
        since = api_timestamp(ns.since, now) if ns.since else None
        until = api_timestamp(ns.until, now) if ns.until else None
    except ValueError as exc:
        raise CLIError(str(exc), 1) from None
    tty = _container_tty(s, ns.container)
    query: dict[str, Any] = {
        "stdout": True,
        "stderr": True,
        "follow": True if ns.follow else None,
        "tail": ns.tail,
        "timestamps": True if ns.timestamps else None,
        "since": since,
        "until": until,
        "details": True if ns.details else None,
    }
    resp = s.client.request("GET", f"/containers/{quote_path(ns.container)}/logs", query)
    sys.stdout.flush()
    copy_output(resp.read, tty)
    return 0


def _top_flags(p: Parser) -> None:
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)


def _top(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.tabwriter import align

    query = {"ps_args": " ".join(ns.ps_args)} if ns.ps_args else None
    top = s.client.get(f"/containers/{quote_path(ns.container)}/top", query)
    lines = ["\t".join(top.get("Titles") or [])]
    lines += ["\t".join(str(x) for x in proc) for proc in top.get("Processes") or []]
    s.out.write(align("\n".join(lines) + "\n", minwidth=20))
    return 0


def _diff(ns: argparse.Namespace, s: Session) -> int:
    changes = s.client.get(f"/containers/{quote_path(ns.container)}/changes") or []
    for change in changes:
        kind = {0: "C", 1: "A", 2: "D"}.get(int(change.get("Kind", 0)), "?")
        s.print(f"{kind} {change.get('Path')}")
    return 0


def _export_flags(p: Parser) -> None:
    p.add_argument("-o", "--output", default="")
    p.add_argument("container")


def write_archive(resp: Any, output: str, what: str) -> None:
    """Copy a tar stream to `-o FILE` or to stdout, refusing a terminal like docker."""
    target: BinaryIO
    if output:
        target = open(output, "wb")  # noqa: SIM115 - closed below
    elif sys.stdout.isatty():
        raise CLIError(
            f"cowardly refusing to save to a terminal. Use the -o flag or redirect{what}"
        )
    else:
        target = sys.stdout.buffer
    try:
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            target.write(chunk)
    finally:
        if output:
            target.close()
        else:
            target.flush()


def _export(ns: argparse.Namespace, s: Session) -> int:
    resp = s.client.request("GET", f"/containers/{quote_path(ns.container)}/export")
    write_archive(resp, ns.output, "")
    return 0


def _commit_flags(p: Parser) -> None:
    p.add_argument("-a", "--author", default="")
    p.add_argument("-m", "--message", default="")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-p", "--pause", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("container")
    p.add_argument("reference", nargs="?")


def split_reference(ref: str | None) -> tuple[str | None, str | None]:
    """`repo[:tag]` -> (repo, tag); a colon before the last slash belongs to a registry port."""
    if not ref:
        return None, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


def _commit(ns: argparse.Namespace, s: Session) -> int:
    repo, tag = split_reference(ns.reference)
    query: dict[str, Any] = {
        "container": ns.container,
        "repo": repo,
        "tag": tag,
        "comment": ns.message or None,
        "author": ns.author or None,
        "pause": ns.pause,
        "changes": ns.change or None,
    }
    try:
        result = s.client.post("/commit", query, body={})
    except APIError as exc:
        raise CLIError(f"Error response from daemon: {exc.message}") from None
    s.print(str(result.get("Id", "")))
    return 0


def _one_container(p: Parser) -> None:
    p.add_argument("container")


COMMANDS = {
    "ps": Command("[OPTIONS]", _ps_flags, _ps),
    "logs": Command("[OPTIONS] CONTAINER", _logs_flags, _logs),
    "top": Command("CONTAINER [ps OPTIONS]", _top_flags, _top),
    "diff": Command("CONTAINER", _one_container, _diff),
    "export": Command("[OPTIONS] CONTAINER", _export_flags, _export),
    "commit": Command("[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", _commit_flags, _commit),
}
