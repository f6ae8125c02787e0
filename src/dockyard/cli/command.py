"""The frame every command runs in: its argparse parser with docker's error wording, the
Session that owns the API client, and the exceptions that carry docker's exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TextIO

if TYPE_CHECKING:
    from dockyard.cli.client import Client

PROG = "dockyard"


class CLIError(Exception):
    """Print `message` to stderr (when not empty) and exit with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(Exception):
    """A flag or argument problem, reported with the usage line like cobra does."""

    def __init__(self, message: str, missing_args: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing_args = missing_args


class Parser(argparse.ArgumentParser):
    """argparse with docker's wording: `unknown flag: --x`, flag value errors verbatim."""

    def __init__(self, prog: str, usage: str) -> None:
        super().__init__(prog=prog, usage=usage, add_help=False, allow_abbrev=False)
        self.add_argument("--help", action="help", help="Print usage")

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            first = message.split(": ", 1)[1].split(" ")[0]
            if first.startswith("--"):
                raise UsageError(f"unknown flag: {first.split('=')[0]}")
            if first.startswith("-") and len(first) > 1:
                raise UsageError(f"unknown shorthand flag: '{first[1]}' in {first}")
            raise UsageError(f'"{self.prog}" accepts no arguments.', missing_args=True)
        if message.startswith("the following arguments are required"):
            raise UsageError(f"'{self.prog}' requires at least 1 argument", missing_args=True)
        if message.startswith("argument ") and ": " in message:
            detail = message.split(": ", 1)[1]
            if detail.startswith("invalid argument") or detail.startswith("flag needs"):
                raise UsageError(detail)
            if detail.startswith("expected one argument"):
                flag = message[len("argument ") :].split(":", 1)[0].split("/")[-1]
                raise UsageError(f"flag needs an argument: {flag}")
            raise UsageError(detail)
        raise UsageError(message)


class Command(NamedTuple):
    """One CLI command: `configure` adds its flags, `run` executes it and returns the exit code."""

    usage: str
    configure: Callable[[Parser], None]
    run: Callable[[argparse.Namespace, Session], int]


class Session:
    """Per-invocation state. The API client is created on first use so `--version` and
    `daemon` never touch the socket."""

    def __init__(self, host: str, is_default_host: bool) -> None:
        self.host = host
        self.is_default_host = is_default_host
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            from dockyard.cli.autostart import connect

            self._client = connect(self.host, self.is_default_host, self.err)
        return self._client

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")


def flag_error(value: str, flag: str, reason: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f'invalid argument "{value}" for "{flag}" flag: {reason}')


def env_file_lines(path: str) -> list[str]:
    """Docker's --env-file: KEY=VALUE lines, comments skipped, bare KEY taken from our env."""
    out: list[str] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for raw in fh:
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if "=" in line:
                    out.append(line)
                elif line in os.environ:
                    out.append(f"{line}={os.environ[line]}")
    except OSError as exc:
        raise CLIError(
            f"open {path}: {exc.strerror.lower() if exc.strerror else exc}", 125
        ) from exc
    return out


Handler = Callable[[argparse.Namespace, Session], int]
AnyDict = dict[str, Any]


def for_each(s: Session, names: list[str], act: Callable[[str], Any], echo: bool = True) -> int:
    """Run `act` on every name; print the name (or what `act` returned) on success, collect the
    daemon's errors and report them all after, like docker-cli's multi-target commands."""
    from dockyard.cli.client import APIError

    errors: list[str] = []
    for name in names:
        try:
            result = act(name)
        except APIError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
            continue
        if echo and result is not False:
            s.print(name if result is None else str(result))
        s.out.flush()
    if errors:
        raise CLIError("\n".join(errors))
    return 0
