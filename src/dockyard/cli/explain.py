"""dockyard's own `explain IMAGE|CONTAINER PATH` and `image layers IMAGE` (B1): which layer a
file comes from, and what each layer of an image adds, changes, removes and wastes."""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

from dockyard.cli.client import APIError, quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session, flag_error
from dockyard.cli.tabwriter import align
from dockyard.units import human_size, ram_in_bytes

INSTRUCTION_WIDTH = 60


def _format_flag(p: Parser) -> None:
    p.add_argument("--format", default="table", choices=("table", "json"))
    p.add_argument("--no-trunc", action="store_true")


_DIGEST = re.compile(r"\b(file|dir|multi|sha256):([0-9a-f]{12})[0-9a-f]{52}\b")


def _short(text: str, trunc: bool = True, width: int = INSTRUCTION_WIDTH) -> str:
    """One line; truncated: content digests cut to 12 hex digits (`COPY file:b4bd1fcf565a in
    /app`, so the destination shows) and the whole to `width`."""
    text = " ".join(text.split())
    if not trunc:
        return text
    text = _DIGEST.sub(r"\1:\2", text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _time(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _explain_flags(p: Parser) -> None:
    _format_flag(p)
    p.add_argument("target")
    p.add_argument("path")


def explain_table(doc: dict[str, Any], trunc: bool = True) -> str:
    """The table form of an explain answer (its JSON shape: docs/provenance.md)."""
    lines = ["LAYER\tACTION\tTYPE\tSIZE\tMODE\tMTIME\tCREATED BY"]
    for row in doc["layers"]:
        lines.append("\t".join([
            row["layer"] if row["layer"] in ("init", "container") else str(row["index"]),
            row["action"] + (f" (via {row['via']})" if row.get("via") else ""),
            row.get("type", ""),
            human_size(row.get("size", 0)),
            row.get("mode", ""),
            _time(row.get("mtime")),
            _short(row.get("instruction", ""), trunc),
        ]))  # fmt: skip
    v = doc["visible"]
    where = v.get("from")
    if v.get("mount"):
        m = v["mount"]
        where = f"{m['type']} mounted at {m['destination']}" + (
            f" from {m['name'] or m['source']}" if m["name"] or m["source"] else ""
        )
    state = "visible" if v.get("exists") else "not visible"
    if v.get("exists") is None:
        state = "shadowed"
    shown = doc["path"]
    if doc.get("resolved", shown) != shown:
        shown += f" (resolved: {doc['resolved']})"
    top = f"{shown}: {state}" + (f", from the {where}" if where else "")
    if not doc["layers"] and not v.get("mount"):
        top = f"{shown}: in no layer"
    return top + "\n" + align("\n".join(lines) + "\n")


def _get_explain(s: Session, target: str, path: str) -> dict[str, Any]:
    try:
        doc = s.client.get(f"/dockyard/containers/{quote_path(target)}/explain", {"path": path})
    except APIError as exc:
        if exc.status != 404:
            raise
        try:
            doc = s.client.get(f"/dockyard/images/{quote_path(target)}/explain", {"path": path})
        except APIError as exc2:
            if exc2.status != 404:
                raise
            raise CLIError(f"Error: No such object: {target}") from None
    return dict(doc)


def _explain(ns: argparse.Namespace, s: Session) -> int:
    doc = _get_explain(s, ns.target, ns.path)
    if ns.format == "json":
        s.print(json.dumps(doc, indent=2))
    else:
        s.out.write(explain_table(doc, not ns.no_trunc))
    return 0


def _size_flag(text: str) -> int:
    try:
        return ram_in_bytes(text)
    except ValueError as exc:
        raise flag_error(text, "--fail-over", str(exc)) from None


def _layers_flags(p: Parser) -> None:
    _format_flag(p)
    p.add_argument("--fail-over", type=_size_flag, default=None, metavar="BYTES")
    p.add_argument("image")


def layers_table(doc: dict[str, Any], trunc: bool = True) -> str:
    lines = ["LAYER\tSIZE\tADDED\tCHANGED\tREMOVED\tWASTED\tINSTRUCTION"]
    for row in doc["layers"]:
        f = row["files"]
        lines.append("\t".join([
            str(row["index"]), human_size(row["size"]), str(f["added"]), str(f["changed"]),
            str(f["removed"]), human_size(row["wasted_bytes"]), _short(row["instruction"], trunc),
        ]))  # fmt: skip
    out = align("\n".join(lines) + "\n")
    out += (
        f"\nTotal size: {human_size(doc['size'])}  Wasted: {human_size(doc['wasted_bytes'])}"
        f" ({doc['wasted_percent']:.2f}% of the layers above the base)"
        f"  Efficiency: {100 * doc['efficiency']:.2f}%\n"
    )
    if doc["inefficiencies"]:
        rows = ["WASTED\tVERSIONS\tPATH"] + [
            f"{human_size(i['wasted_bytes'])}\t{i['versions_hidden']}\t{i['path']}"
            for i in doc["inefficiencies"]
        ]
        out += "\n" + align("\n".join(rows) + "\n")
    return out


def _layers(ns: argparse.Namespace, s: Session) -> int:
    doc = dict(s.client.get(f"/dockyard/images/{quote_path(ns.image)}/layers"))
    if ns.format == "json":
        s.print(json.dumps(doc, indent=2))
    else:
        s.out.write(layers_table(doc, not ns.no_trunc))
    if ns.fail_over is not None and doc["wasted_bytes"] > ns.fail_over:
        raise CLIError(
            f"wasted space {doc['wasted_bytes']} bytes is over --fail-over {ns.fail_over}", 2
        )
    return 0


COMMANDS = {
    "explain": Command("[OPTIONS] IMAGE|CONTAINER PATH", _explain_flags, _explain),
    "layers": Command("[OPTIONS] IMAGE", _layers_flags, _layers),
}
