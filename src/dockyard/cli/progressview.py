"""Showing a pull's or push's JSON progress stream (E5) as the docker CLI does: on a terminal one
line per layer, redrawn in place (with rich, a maintained terminal library, imported only then);
elsewhere each state change on its own line and no bars. An error message in the stream ends it
with that error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from dockyard.cli.command import CLIError


def _line(msg: dict[str, Any]) -> str:
    prefix = f"{msg['id']}: " if msg.get("id") else ""
    bar = msg.get("progress") or ""
    return f"{prefix}{msg.get('status', '')}" + (f" {bar}" if bar else "")


def show(messages: Iterable[dict[str, Any]], out: TextIO) -> list[dict[str, Any]]:
    """Render the stream; returns the aux messages (a push's digest)."""
    if out.isatty():
        return _live(messages, out)
    aux = []
    for msg in messages:
        if msg.get("error"):
            raise CLIError(str(msg["error"]))
        if "aux" in msg:
            aux.append(msg["aux"])
            continue
        if msg.get("progress"):  # docker prints no bars off a terminal
            continue
        if msg.get("status"):
            out.write(_line(msg) + "\n")
            out.flush()
    return aux


def _live(messages: Iterable[dict[str, Any]], out: TextIO) -> list[dict[str, Any]]:
    """Every message is a row, in order of arrival; a layer's later messages redraw its row."""
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    console = Console(file=out, highlight=False)
    rows: dict[str, str] = {}
    aux: list[dict[str, Any]] = []

    def view() -> Group:
        return Group(*(Text(text, no_wrap=True, overflow="ellipsis") for text in rows.values()))

    with Live(view(), console=console, refresh_per_second=10) as live:
        for msg in messages:
            if msg.get("error"):
                live.update(view())
                raise CLIError(str(msg["error"]))
            if "aux" in msg:
                aux.append(msg["aux"])
                continue
            if not msg.get("status"):
                continue
            key = msg["id"] if msg.get("id") and "progressDetail" in msg else f"#{len(rows)}"
            rows[key] = _line(msg)
            live.update(view())
    return aux
