"""Dockerfile parsing (MISSION S1), pure: text -> instructions with line numbers, as buildkit's
parser reads it for the legacy builder: parser directives (`# escape=`), comments, line
continuations, JSON (exec) form vs shell form, and `--flag=value` options.

Variables are not expanded here (build/expand.py does that per step, with the step's ARG/ENV).
Errors are Docker's: `dockerfile parse error line N: ...` (400 before the build starts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dockyard.errors import InvalidParameter
from dockyard.images import healthcheck
from dockyard.images.jsonform import json_form

INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL"
    " STOPSIGNAL USER VOLUME WORKDIR".split()
)
# The flags each instruction accepts (buildkit's instructions/parse.go); others are errors.
FLAGS: dict[str, frozenset[str]] = {
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "FROM": frozenset({"platform"}),
    "RUN": frozenset({"mount", "network", "security"}),
    "HEALTHCHECK": healthcheck.FLAGS,
}
JSON_FORMS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_FLAG = re.compile(r"^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(.*))?$")


@dataclass(frozen=True)
class Instruction:
    """One instruction. `cmd` is upper-case; `rest` is the argument text after the flags (the
    continuation-joined original, unexpanded); `json` holds the exec-form list when one was
    given; `original` is the text as `Step n/m :` prints it."""

    cmd: str
    rest: str
    line: int
    original: str
    flags: dict[str, str] = field(default_factory=dict)
    json: list[str] | None = None


def parse_error(line: int, msg: str) -> InvalidParameter:
    return InvalidParameter(f"dockerfile parse error line {line}: {msg}")


def _directives(lines: list[str]) -> str:
    """The escape character from the parser directives at the top (`# escape=`)."""
    escape = "\\"
    seen: set[str] = set()
    for raw in lines:
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            break
        name = m.group(1).lower()
        if name in seen:
            break
        seen.add(name)
        if name == "escape":
            if m.group(2) not in ("\\", "`"):
                raise InvalidParameter(
                    f"invalid escape token '{m.group(2)}' does not match ` or \\"
                )
            escape = m.group(2)
    return escape


def logical_lines(text: str) -> tuple[list[tuple[int, str]], str]:
    """Join continuations; drop comments and blank lines. Returns [(first line no, text)]."""
    lines = text.replace("\r\n", "\n").split("\n")
    escape = _directives(lines)
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for no, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and buf):
            continue  # comments vanish even inside a continuation; so do empty lines there
        if not stripped:
            continue
        if not buf:
            start = no
        body = raw.lstrip() if not buf else raw
        trimmed = body.rstrip()
        if trimmed.endswith(escape):
            buf.append(trimmed[: -len(escape)])
            continue
        buf.append(body.rstrip("\n"))
        out.append((start, "".join(buf)))
        buf = []
    if buf:
        out.append((start, "".join(buf)))
    return out, escape


def _split_flags(cmd: str, rest: str, line: int) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        m = _FLAG.match(word)
        if word == "--":
            rest = after.lstrip()
            break
        if m is None:
            break
        name = m.group(1)
        if name not in FLAGS.get(cmd, frozenset()):
            raise parse_error(line, f"Unknown flag: {name}")
        if m.group(2) is None and name not in ("link", "parents", "keep-git-dir"):
            raise parse_error(line, f"Missing a value on flag: {name}")
        flags[name] = m.group(2) if m.group(2) is not None else "true"
        rest = after.lstrip()
    return flags, rest


def parse_line(no: int, text: str, *, nested: bool = False) -> Instruction:
    parts = re.split(r"\s+", text.strip(), maxsplit=1)
    word, rest = parts[0], (parts[1].strip() if len(parts) > 1 else "")
    cmd = word.upper()
    if cmd not in INSTRUCTIONS:
        raise parse_error(no, f"unknown instruction: {word}")
    flags, rest = _split_flags(cmd, rest, no)
    form = json_form(rest) if cmd in JSON_FORMS else None
    if cmd == "SHELL" and form is None:
        raise parse_error(no, "SHELL requires the arguments to be in JSON form")
    if cmd == "ONBUILD":
        if nested:
            raise parse_error(no, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        inner = parse_line(no, rest, nested=True)
        if inner.cmd in ("FROM", "MAINTAINER"):
            raise parse_error(no, f"{inner.cmd} isn't allowed as an ONBUILD trigger")
    if not rest and cmd not in ("RUN", "CMD", "ENTRYPOINT"):
        raise parse_error(no, f"{cmd} requires at least one argument")
    if cmd == "HEALTHCHECK":  # checked with the whole file, before any step, as dockerd does
        try:
            healthcheck.parse(rest, flags)
        except ValueError as e:
            raise parse_error(no, str(e)) from None
    return Instruction(cmd, rest, no, text.strip(), flags, form)


def parse(text: str) -> list[Instruction]:
    """The whole Dockerfile. Raises InvalidParameter with Docker's wording."""
    if not text.strip():
        raise InvalidParameter("the Dockerfile (Dockerfile) cannot be empty")
    lines, _ = logical_lines(text)
    if not lines:
        raise InvalidParameter("file with no instructions")
    return [parse_line(no, t) for no, t in lines]


def escape_of(text: str) -> str:
    return _directives(text.replace("\r\n", "\n").split("\n"))
