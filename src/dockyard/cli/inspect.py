"""`inspect` (containers first, then images, networks, volumes) and the typed forms
`container inspect` and `image inspect`: indented JSON as docker-cli prints, or `--format`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from dockyard.cli.client import APIError, quote_path
from dockyard.cli.command import CLIError, Command, Parser, Session

Getter = Callable[[Session, str, bool], Any]


def go_indent(value: Any) -> str:
    """docker-cli re-encodes inspect results with a 4-space indent and no HTML escaping."""
    return json.dumps(value, indent=4, ensure_ascii=False)


def _container(s: Session, name: str, size: bool) -> Any:
    return s.client.get(f"/containers/{quote_path(name)}/json", {"size": True if size else None})


def _image(s: Session, name: str, size: bool) -> Any:
    return s.client.get(f"/images/{quote_path(name)}/json")


def _network(s: Session, name: str, size: bool) -> Any:
    return s.client.get(f"/networks/{quote_path(name)}")


def _volume(s: Session, name: str, size: bool) -> Any:
    return s.client.get(f"/volumes/{quote_path(name)}")


GETTERS: dict[str, Getter] = {
    "container": _container,
    "image": _image,
    "network": _network,
    "volume": _volume,
}


def check_format(fmt: str) -> Any:
    """Parse `--format` before any request, failing like docker (exit 64)."""
    if not fmt:
        return None
    from dockyard.cli.govalues import TemplateError
    from dockyard.cli.template import parse

    try:
        return parse(fmt.replace("\\t", "\t").replace("\\n", "\n"))
    except TemplateError as exc:
        raise CLIError(f"template parsing error: {exc}", 64) from None


def show(s: Session, found: list[Any], fmt: str) -> None:
    tmpl = check_format(fmt)
    if tmpl is None:
        s.print(go_indent(found) if found else "[]")
        return
    from dockyard.cli.govalues import TemplateError

    for item in found:
        try:
            s.print(tmpl.execute(item))
        except TemplateError as exc:
            raise CLIError(f"{exc}") from None


def _flags(p: Parser) -> None:
    p.add_argument("-f", "--format", default="")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("--type", default="")
    p.add_argument("names", nargs="+", metavar="NAME|ID")


def _inspect_any(ns: argparse.Namespace, s: Session) -> int:
    if ns.type and ns.type not in GETTERS:
        raise CLIError(f'"{ns.type}" is not a valid value for --type')
    check_format(ns.format)
    kinds = [ns.type] if ns.type else list(GETTERS)
    found: list[Any] = []
    errors: list[str] = []
    for name in ns.names:
        for kind in kinds:
            try:
                found.append(GETTERS[kind](s, name, ns.size))
                break
            except APIError as exc:
                if exc.status != 404 or ns.type:
                    errors.append(f"Error response from daemon: {exc.message}")
                    break
        else:
            errors.append(f"Error: No such object: {name}")
    show(s, found, ns.format)
    if errors:
        raise CLIError("\n".join(dict.fromkeys(errors)))
    return 0


def _typed(kind: str) -> Callable[[argparse.Namespace, Session], int]:
    def run(ns: argparse.Namespace, s: Session) -> int:
        check_format(ns.format)
        found: list[Any] = []
        errors: list[str] = []
        for name in ns.names:
            try:
                found.append(GETTERS[kind](s, name, getattr(ns, "size", False)))
            except APIError as exc:
                errors.append(f"Error response from daemon: {exc.message}")
        show(s, found, ns.format)
        if errors:
            raise CLIError("\n".join(errors))
        return 0

    return run


def _typed_flags(p: Parser) -> None:
    p.add_argument("-f", "--format", default="")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("names", nargs="+", metavar="NAME")


COMMANDS = {
    "inspect": Command("[OPTIONS] NAME|ID [NAME|ID...]", _flags, _inspect_any),
    "container": Command("[OPTIONS] CONTAINER [CONTAINER...]", _typed_flags, _typed("container")),
    "image": Command("[OPTIONS] IMAGE [IMAGE...]", _typed_flags, _typed("image")),
}
