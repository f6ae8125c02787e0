"""`dockyard`: a docker-compatible CLI. Only the invoked command's module is imported and only
its parser is built, so short commands start fast (no aiohttp, no json until needed)."""

from __future__ import annotations

import importlib
import os
import sys

VERSION = "0.1.0"

# Top-level commands: name -> (module in dockyard.cli, command key in its COMMANDS).
TOP: dict[str, tuple[str, str]] = {
    "run": ("run", "run"),
    "create": ("run", "create"),
    "exec": ("execs", "exec"),
    "attach": ("execs", "attach"),
    "start": ("lifecycle", "start"),
    "stop": ("lifecycle", "stop"),
    "restart": ("lifecycle", "restart"),
    "kill": ("lifecycle", "kill"),
    "pause": ("lifecycle", "pause"),
    "unpause": ("lifecycle", "unpause"),
    "rm": ("lifecycle", "rm"),
    "wait": ("lifecycle", "wait"),
    "rename": ("lifecycle", "rename"),
    "update": ("update", "update"),
    "ps": ("containers", "ps"),
    "logs": ("containers", "logs"),
    "top": ("containers", "top"),
    "stats": ("stats", "stats"),
    "diff": ("containers", "diff"),
    "export": ("containers", "export"),
    "cp": ("cp", "cp"),
    "commit": ("containers", "commit"),
    "inspect": ("inspect", "inspect"),
    "images": ("images", "images"),
    "pull": ("registry", "pull"),
    "push": ("registry", "push"),
    "login": ("registry", "login"),
    "logout": ("registry", "logout"),
    "rmi": ("images", "rmi"),
    "tag": ("images", "tag"),
    "history": ("images", "history"),
    "import": ("images", "import"),
    "save": ("images", "save"),
    "load": ("images", "load"),
    "build": ("build", "build"),
    "info": ("system", "info"),
    "version": ("system", "version"),
    "events": ("system", "events"),
    "port": ("networks", "port"),
    "dashboard": ("dashboard", "dashboard"),
    "explain": ("explain", "explain"),
}

GROUPS: dict[str, dict[str, tuple[str, str]]] = {
    "container": {
        **{
            k: v
            for k, v in TOP.items()
            if v[0] in ("run", "execs", "lifecycle", "containers", "stats", "update")
        },
        "ls": ("containers", "ps"),
        "list": ("containers", "ps"),
        "remove": ("lifecycle", "rm"),
        "prune": ("lifecycle", "prune"),
        "inspect": ("inspect", "container"),
        "cp": ("cp", "cp"),
    },
    "image": {
        "ls": ("images", "images"),
        "list": ("images", "images"),
        "inspect": ("inspect", "image"),
        "history": ("images", "history"),
        "tag": ("images", "tag"),
        "rm": ("images", "rmi"),
        "remove": ("images", "rmi"),
        "prune": ("images", "prune"),
        "import": ("images", "import"),
        "save": ("images", "save"),
        "load": ("images", "load"),
        "bootstrap": ("images", "bootstrap"),
        "layers": ("explain", "layers"),
        "pull": ("registry", "pull"),
        "push": ("registry", "push"),
        "build": ("build", "build"),
    },
    "builder": {
        "build": ("build", "build"),
        "prune": ("build", "prune"),
    },
    "volume": {
        "create": ("volumes", "create"),
        "inspect": ("volumes", "inspect"),
        "ls": ("volumes", "ls"),
        "list": ("volumes", "ls"),
        "rm": ("volumes", "rm"),
        "remove": ("volumes", "rm"),
        "prune": ("volumes", "prune"),
    },
    "network": {
        "ls": ("networks", "ls"),
        "list": ("networks", "ls"),
        "inspect": ("networks", "inspect"),
        "create": ("networks", "create"),
        "rm": ("networks", "rm"),
        "remove": ("networks", "rm"),
        "prune": ("networks", "prune"),
        "connect": ("networks", "connect"),
        "disconnect": ("networks", "disconnect"),
        "graph": ("networks", "graph"),
    },
    "kube": {
        "generate": ("kube.commands", "generate"),
        "play": ("kube.commands", "play"),
        "down": ("kube.commands", "down"),
    },
    "swarm": {
        "init": ("swarm", "init"),
        "leave": ("swarm", "leave"),
    },
    "system": {
        "df": ("system", "df"),
        "check": ("system", "check"),
        "prune": ("prune", "system"),
        "info": ("system", "info"),
        "events": ("system", "events"),
    },
}

USAGE = (
    """Usage:  dockyard [OPTIONS] COMMAND

A Docker-compatible container engine

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  images      List images
  daemon      Run the dockyard daemon

Management Commands:
  container   Manage containers
  image       Manage images
  volume      Manage volumes
  kube        Generate Kubernetes YAML from containers, play and take down Kubernetes YAML
  swarm       Manage the one-node swarm (networks)
  system      Manage dockyard

Commands:
  """
    + "\n  ".join(sorted(TOP))
    + """

Global Options:
  -H, --host string   Daemon socket to connect to (env DOCKYARD_HOST)
  -v, --version       Print version information and quit
"""
)


def _split_globals(argv: list[str]) -> tuple[str | None, list[str], bool]:
    """Consume global flags before the command name. Returns (host, rest, show_version)."""
    host: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-H", "--host"):
            if i + 1 >= len(argv):
                raise SystemExit(_usage_error(f"flag needs an argument: {arg}", "dockyard"))
            host = argv[i + 1]
            i += 2
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
            i += 1
        elif arg.startswith("-H") and len(arg) > 2:
            host = arg[2:]
            i += 1
        elif arg in ("-v", "--version"):
            return host, argv[i + 1 :], True
        elif arg in ("-D", "--debug"):
            i += 1
        elif arg in ("-l", "--log-level"):
            i += 2
        elif arg.startswith("-") and arg != "-":
            if arg in ("-h", "--help"):
                sys.stdout.write(USAGE)
                raise SystemExit(0)
            raise SystemExit(_usage_error(f"unknown flag: {arg}", "dockyard"))
        else:
            break
    return host, argv[i:], False


def _usage_error(message: str, prog: str, usage: str = "", missing: bool = False) -> int:
    line = f"Usage:  {prog} {usage}".rstrip()
    if missing:
        sys.stderr.write(
            f"dockyard: {message}\n\n{line}\n\nSee '{prog} --help' for more information\n"
        )
        return 1
    sys.stderr.write(f"{message}\n\n{line}\n\nRun '{prog} --help' for more information\n")
    return 125


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    host_flag, rest, show_version = _split_globals(args)
    if show_version:
        sys.stdout.write(f"dockyard version {VERSION}\n")
        return 0
    if not rest:
        sys.stdout.write(USAGE)
        return 0
    name = rest[0]
    if name == "daemon":
        daemon = importlib.import_module("dockyard.daemon")
        return int(daemon.main(rest[1:]) or 0)
    if name == "help":
        sys.stdout.write(USAGE)
        return 0
    if name in GROUPS:
        group = GROUPS[name]
        if len(rest) < 2 or rest[1] not in group:
            if len(rest) >= 2 and not rest[1].startswith("-"):
                sys.stderr.write(f"dockyard: unknown command: dockyard {name} {rest[1]}\n\n")
                sys.stderr.write(f"Run 'dockyard {name} --help' for more information\n")
                return 1
            sys.stdout.write(f"\nUsage:  dockyard {name} COMMAND\n\nCommands:\n")
            sys.stdout.write("".join(f"  {c}\n" for c in sorted(group)))
            return 0
        prog, (module_name, key), cmd_args = f"dockyard {name} {rest[1]}", group[rest[1]], rest[2:]
    elif name in TOP:
        prog, (module_name, key), cmd_args = f"dockyard {name}", TOP[name], rest[1:]
    else:
        sys.stderr.write(f"dockyard: unknown command: dockyard {name}\n\n")
        sys.stderr.write("Run 'dockyard --help' for more information\n")
        return 1
    return _run_command(prog, module_name, key, cmd_args, host_flag)


def _run_command(
    prog: str, module_name: str, key: str, cmd_args: list[str], host_flag: str | None
) -> int:
    from dockyard.cli.client import APIError, ConnectError
    from dockyard.cli.command import CLIError, Parser, Session, UsageError
    from dockyard.cli.defaults import DEFAULT_HOST

    module = importlib.import_module(f"dockyard.cli.{module_name}")
    command = module.COMMANDS[key]
    parser = Parser(prog, f"{prog} {command.usage}")
    command.configure(parser)
    try:
        ns = parser.parse_args(cmd_args)
    except UsageError as exc:
        return _usage_error(exc.message, prog, command.usage, exc.missing_args)
    host = host_flag or os.environ.get("DOCKYARD_HOST") or DEFAULT_HOST
    session = Session(host, is_default_host=host == DEFAULT_HOST)
    try:
        return int(command.run(ns, session))
    except UsageError as exc:
        return _usage_error(exc.message, prog, command.usage, exc.missing_args)
    except CLIError as exc:
        if exc.message:
            sys.stderr.write(exc.message + "\n")
        return exc.code
    except APIError as exc:
        sys.stderr.write(f"Error response from daemon: {exc.message}\n")
        return 1
    except ConnectError:
        sys.stderr.write(
            f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?\n"
        )
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
