"""Container state changes: start, stop, restart, kill, pause, unpause, rm, wait, rename, prune.
Multi-target commands act on each name, print it on success and report every failure."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from dockyard.cli.client import quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session, for_each


def _targets(p: Parser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def _stop_flags(p: Parser) -> None:
    p.add_argument("-t", "--time", "--timeout", type=int, dest="time", default=None)
    p.add_argument("-s", "--signal", default=None)
    _targets(p)


def _stopper(action: str) -> Callable[[argparse.Namespace, Session], int]:
    def run(ns: argparse.Namespace, s: Session) -> int:
        query = {"t": ns.time, "signal": ns.signal}

        def act(name: str) -> None:
            s.client.post(f"/containers/{quote_path(name)}/{action}", query)

        return for_each(s, ns.containers, act)

    return run


def _kill_flags(p: Parser) -> None:
    p.add_argument("-s", "--signal", default=None)
    _targets(p)


def _kill(ns: argparse.Namespace, s: Session) -> int:
    return for_each(
        s,
        ns.containers,
        lambda n: s.client.post(f"/containers/{quote_path(n)}/kill", {"signal": ns.signal}),
    )


def _simple(action: str) -> Callable[[argparse.Namespace, Session], int]:
    def run(ns: argparse.Namespace, s: Session) -> int:
        return for_each(
            s, ns.containers, lambda n: s.client.post(f"/containers/{quote_path(n)}/{action}")
        )

    return run


def _rm_flags(p: Parser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")
    p.add_argument("-l", "--link", action="store_true")
    _targets(p)


def _rm(ns: argparse.Namespace, s: Session) -> int:
    query = {"force": ns.force or None, "v": ns.volumes or None, "link": ns.link or None}

    def act(name: str) -> None:
        s.client.call("DELETE", f"/containers/{quote_path(name.strip('/'))}", query)

    return for_each(s, ns.containers, act)


def _wait(ns: argparse.Namespace, s: Session) -> int:
    def act(name: str) -> int:
        result = s.client.post(f"/containers/{quote_path(name)}/wait")
        return int(result.get("StatusCode", 0))

    return for_each(s, ns.containers, act)


def _start_flags(p: Parser) -> None:
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("--detach-keys", default=None)
    _targets(p)


def _start(ns: argparse.Namespace, s: Session) -> int:
    if not (ns.attach or ns.interactive):
        return for_each(
            s, ns.containers, lambda n: s.client.post(f"/containers/{quote_path(n)}/start")
        )
    if len(ns.containers) > 1:
        raise CLIError("you cannot start and attach multiple containers at once")
    from dockyard.cli.streams import attach_session, raw_terminal, send_resize

    name = ns.containers[0]
    path = f"/containers/{quote_path(name)}"
    info = s.client.get(f"{path}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    stdin = ns.interactive and bool((info.get("Config") or {}).get("OpenStdin"))
    query = {
        "stream": True,
        "stdout": True,
        "stderr": True,
        "stdin": stdin or None,
        "detachKeys": ns.detach_keys,
    }
    conn = s.client.hijack(f"{path}/attach", query)
    s.client.post(f"{path}/start")
    if tty:
        send_resize(s.client, path)
    with raw_terminal(tty and stdin):
        attach_session(conn, tty, stdin)
    result = s.client.post(f"{path}/wait")
    return int((result or {}).get("StatusCode", 0))


def _rename_flags(p: Parser) -> None:
    p.add_argument("container")
    p.add_argument("new_name")


def _rename(ns: argparse.Namespace, s: Session) -> int:
    if not ns.new_name.strip():
        raise CLIError("Error: neither old nor new names may be empty")
    s.client.post(f"/containers/{quote_path(ns.container)}/rename", {"name": ns.new_name})
    return 0


def confirm(s: Session, warning: str) -> bool:
    s.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    s.out.flush()
    import sys

    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def report_pruned(s: Session, heading: str, names: list[str], reclaimed: int) -> None:
    """docker-cli's prune report: the deleted names under a heading, then the space."""
    from dockyard.units import human_size

    if names:
        s.print(heading)
        for name in names:
            s.print(name)
        s.print()
    s.print(f"Total reclaimed space: {human_size(reclaimed)}")


def _prune_flags(p: Parser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append")


def _prune(ns: argparse.Namespace, s: Session) -> int:
    from dockyard.cli.containers import filters_json

    if not ns.force and not confirm(s, "WARNING! This will remove all stopped containers."):
        return 0
    report = s.client.post("/containers/prune", {"filters": filters_json(ns.filter)}) or {}
    deleted = list(report.get("ContainersDeleted") or [])
    report_pruned(s, "Deleted Containers:", deleted, int(report.get("SpaceReclaimed") or 0))
    return 0


COMMANDS = {
    "start": Command("[OPTIONS] CONTAINER [CONTAINER...]", _start_flags, _start),
    "stop": Command("[OPTIONS] CONTAINER [CONTAINER...]", _stop_flags, _stopper("stop")),
    "restart": Command("[OPTIONS] CONTAINER [CONTAINER...]", _stop_flags, _stopper("restart")),
    "kill": Command("[OPTIONS] CONTAINER [CONTAINER...]", _kill_flags, _kill),
    "pause": Command("CONTAINER [CONTAINER...]", _targets, _simple("pause")),
    "unpause": Command("CONTAINER [CONTAINER...]", _targets, _simple("unpause")),
    "rm": Command("[OPTIONS] CONTAINER [CONTAINER...]", _rm_flags, _rm),
    "wait": Command("CONTAINER [CONTAINER...]", _targets, _wait),
    "rename": Command("CONTAINER NEW_NAME", _rename_flags, _rename),
    "prune": Command("[OPTIONS]", _prune_flags, _prune),
}
