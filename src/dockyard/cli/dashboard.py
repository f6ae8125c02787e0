"""`dockyard dashboard` (#18, B1): starts the daemon's dashboard unless it runs and prints its
address, token included (`--port`: the port to start it on; `--format json`: the whole answer)."""

from __future__ import annotations

import argparse
import json

from dockyard.cli.command import Command, Parser, Session, UsageError


def _flags(p: Parser) -> None:
    p.add_argument(
        "-p", "--port", default="0", help="the port to start it on (default: a free one)"
    )
    p.add_argument("--format", default="", help="json: the address, port and token as JSON")


def _dashboard(ns: argparse.Namespace, s: Session) -> int:
    try:
        port = int(ns.port)
    except ValueError:
        raise UsageError(
            f'invalid argument "{ns.port}" for "-p, --port" flag: strconv.ParseUint: '
            f'parsing "{ns.port}": invalid syntax'
        ) from None
    if ns.format not in ("", "json"):
        raise UsageError(f'invalid argument "{ns.format}" for "--format" flag: json or nothing')
    info = s.client.post("/dockyard/dashboard", {"port": str(port)})
    s.out.write(json.dumps(info) + "\n" if ns.format == "json" else f"{info['URL']}\n")
    return 0


COMMANDS = {"dashboard": Command("[OPTIONS]", _flags, _dashboard)}
