"""`dockyard stats [OPTIONS] [CONTAINER...]` (E6), as `docker stats`: docker's table or
`--format`; `--no-stream` asks each container once (stream=false, in parallel) and prints one
table; otherwise one stats stream per container feeds its row and the table is redrawn every
half second (rich's Live on a terminal, one table after another when piped or on a dumb terminal,
which cannot move its cursor) until Ctrl-C, which
ends it quietly (exit 130, as a docker killed by SIGINT). Without names it shows the running containers (`--all`: every one) and follows
them as they come and go; a row with no sample for two seconds shows `--`."""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from dockyard.cli.client import APIError, Client, quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session
from dockyard.cli.statsrows import STATS_HEADERS, STATS_TABLE, StatsRow

TICK = 0.5  # docker's redraw period
STALE = 2.0  # docker's "timeout waiting for stats"


def _flags(p: Parser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", default="")
    p.add_argument("containers", nargs="*")


class Board:
    """The rows shown, in the order they came, and the lock their updaters share."""

    def __init__(self, trunc: bool) -> None:
        self.trunc = trunc
        self.lock = threading.Lock()
        self.rows: dict[str, StatsRow] = {}
        self.seen: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.first = threading.Condition(self.lock)

    def add(self, key: str) -> bool:
        with self.lock:
            if key in self.rows:
                return False
            self.rows[key] = StatsRow(key, trunc=self.trunc)
            return True

    def remove(self, key: str) -> None:
        with self.lock:
            self.rows.pop(key, None)

    def update(self, key: str, doc: dict[str, Any]) -> None:
        with self.lock:
            row = self.rows.get(key)
            if row is not None:
                row.update(doc)
                self.seen[key] = time.monotonic()
            self.first.notify_all()

    def fail(self, key: str, message: str) -> None:
        with self.lock:
            self.errors[key] = message
            row = self.rows.get(key)
            if row is not None:
                row.reset()
            self.first.notify_all()

    def snapshot(self) -> list[StatsRow]:
        now = time.monotonic()
        with self.lock:
            for key, row in self.rows.items():
                if now - self.seen.get(key, now) > STALE:
                    row.reset()
            return [StatsRow(**vars(r)) for r in self.rows.values()]


def _once(client: Client, board: Board, key: str) -> None:
    try:
        board.update(key, client.get(f"/containers/{quote_path(key)}/stats", {"stream": False}))
    except APIError as exc:
        board.fail(key, exc.message)


def _follow(client: Client, board: Board, key: str) -> None:
    try:
        resp = client.request("GET", f"/containers/{quote_path(key)}/stats", {"stream": True})
        for doc in client.stream_json(resp):
            board.update(key, doc)
    except APIError as exc:
        board.fail(key, exc.message)
    except OSError:
        pass  # the daemon went away: the row goes stale


def _listing(client: Client, all_: bool) -> list[str]:
    return [c["Id"][:12] for c in client.get("/containers/json", {"all": True if all_ else None})]


def _start(fn: Callable[..., None], *args: Any) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def _run(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.format import render

    fmt = ns.format or "table"
    if fmt == "table":
        fmt = STATS_TABLE
    client = s.client
    board = Board(trunc=not ns.no_trunc)
    named = list(dict.fromkeys(ns.containers))
    keys = named or _listing(client, ns.all)
    worker = _once if ns.no_stream else _follow
    for key in keys:
        if board.add(key):
            _start(worker, client, board, key)
    with board.lock:  # every container's first answer (or error), as docker waits for them
        board.first.wait_for(lambda: all(k in board.seen or k in board.errors for k in keys))
        failed = [board.errors[k] for k in named if k in board.errors]
    if failed:
        raise CLIError("\n".join(f"Error response from daemon: {m}" for m in failed), 1)

    def table() -> str:
        return render(board.snapshot(), fmt, STATS_HEADERS)

    if ns.no_stream:
        s.out.write(table())
        return 0

    def follow_listing() -> None:
        if named:
            return
        current = set(_listing(client, ns.all))
        for key in current:
            if board.add(key):
                _start(_follow, client, board, key)
        for key in [k for k in list(board.rows) if k not in current]:
            board.remove(key)

    try:
        if s.out.isatty() and os.environ.get("TERM", "").lower() not in ("dumb", "unknown"):
            _live(s, table, follow_listing)
        else:
            while True:
                s.out.write(table())
                s.out.flush()
                time.sleep(TICK)
                follow_listing()
    except KeyboardInterrupt:  # Ctrl-C: the table stays, no traceback; the shell's 130
        return 130
    return 0


def _live(s: Session, table: Callable[[], str], follow_listing: Callable[[], None]) -> None:
    """Redraw in place on a terminal with rich (it owns the cursor and the clearing)."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(file=s.out, highlight=False)

    def frame() -> Text:
        return Text(table().rstrip("\n"), no_wrap=True, overflow="crop")

    with Live(frame(), console=console, auto_refresh=False, vertical_overflow="visible") as live:
        while True:
            time.sleep(TICK)
            follow_listing()
            live.update(frame(), refresh=True)


COMMANDS = {"stats": Command("[OPTIONS] [CONTAINER...]", _flags, _run)}
