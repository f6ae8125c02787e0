"""`exec` and `attach`: hijacked sessions into a running container."""

from __future__ import annotations

import argparse

from dockyard.cli.client import quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session, env_file_lines


def _exec_flags(p: Parser) -> None:
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--detach-keys", default=None)
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)


def _exec(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.streams import attach_session, raw_terminal, send_resize

    if not ns.command:
        raise CLIError(
            "dockyard: 'dockyard exec' requires at least 2 arguments\n\n"
            "Usage:  dockyard exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n"
            "See 'dockyard exec --help' for more information"
        )
    env: list[str] = []
    for path in ns.env_file:
        env += env_file_lines(path)
    env += ns.env
    config = {
        "User": ns.user,
        "Privileged": ns.privileged,
        "Tty": ns.tty,
        "AttachStdin": ns.interactive and not ns.detach,
        "AttachStdout": not ns.detach,
        "AttachStderr": not ns.detach,
        "Detach": ns.detach,
        "DetachKeys": ns.detach_keys or "",
        "Env": env or None,
        "WorkingDir": ns.workdir,
        "Cmd": ns.command,
    }
    client = s.client
    created = client.post(f"/containers/{quote_path(ns.container)}/exec", body=config)
    exec_id = str(created["Id"])
    start = {"Detach": ns.detach, "Tty": ns.tty}
    if ns.detach:
        client.post(f"/exec/{exec_id}/start", body=start)
        return 0
    conn = client.hijack(f"/exec/{exec_id}/start", body=start)
    if ns.tty:
        send_resize(client, f"/exec/{exec_id}")
    with raw_terminal(ns.tty and ns.interactive):
        attach_session(conn, ns.tty, ns.interactive)
    info = client.get(f"/exec/{exec_id}/json") or {}
    return int(info.get("ExitCode") or 0)


def _attach_flags(p: Parser) -> None:
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("--sig-proxy", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--detach-keys", default=None)
    p.add_argument("container")


def _attach(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.streams import attach_session, raw_terminal, send_resize

    client = s.client
    path = f"/containers/{quote_path(ns.container)}"
    info = client.get(f"{path}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first")
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not ns.no_stdin
    query = {
        "stream": True,
        "stdin": stdin or None,
        "stdout": True,
        "stderr": True,
        "detachKeys": ns.detach_keys,
    }
    conn = client.hijack(f"{path}/attach", query)
    if tty:
        send_resize(client, path)
    with raw_terminal(tty and stdin):
        attach_session(conn, tty, stdin)
    result = client.post(f"{path}/wait") or {}
    return int(result.get("StatusCode") or 0)


COMMANDS = {
    "exec": Command("[OPTIONS] CONTAINER COMMAND [ARG...]", _exec_flags, _exec),
    "attach": Command("[OPTIONS] CONTAINER", _attach_flags, _attach),
}
