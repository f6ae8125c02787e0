"""`--change` lines of `commit` and `import`: the Dockerfile instructions that only touch the image
config. Parsing follows the Dockerfile rules (JSON or shell form, key=value words with quotes);
variable substitution is not done."""

from __future__ import annotations

from typing import Any

from dockyard.core import timefmt
from dockyard.errors import InvalidParameter
from dockyard.images import healthcheck
from dockyard.images.jsonform import json_form

VALID = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)
SHELL = ["/bin/sh", "-c"]


def parse(line: str) -> tuple[str, Any] | None:
    """One change line -> (INSTRUCTION, value) with the value in image-config shape; None if blank."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    word, _, rest = line.partition(" ")
    if "\t" in word:
        word, _, tail = word.partition("\t")
        rest = tail + " " + rest
    kind = word.upper()
    rest = rest.strip()
    if kind not in VALID:
        raise InvalidParameter(f"{word} is not a valid change command")
    if kind in ("CMD", "ENTRYPOINT"):
        return kind, _command(rest)
    if kind == "ENV":
        return kind, _pairs(kind, rest, legacy_space=True)
    if kind == "LABEL":
        return kind, dict(_pairs(kind, rest, legacy_space=True))
    if kind == "EXPOSE":
        return kind, _ports(words(rest))
    if kind == "VOLUME":
        arr = json_form(rest)
        vols = arr if arr is not None else words(rest)
        if not vols or any(not v for v in vols):
            raise InvalidParameter("VOLUME specified can not be an empty string")
        return kind, vols
    if kind == "HEALTHCHECK":
        return kind, _healthcheck(rest)
    if not rest:
        raise InvalidParameter(f"{kind} requires exactly one argument")
    if kind == "WORKDIR" or kind == "USER" or kind == "STOPSIGNAL":
        return kind, " ".join(words(rest)) if kind != "WORKDIR" else rest
    return kind, rest  # ONBUILD keeps the nested instruction as written


def _command(rest: str) -> list[str]:
    arr = json_form(rest)
    if arr is not None:
        return arr
    return [*SHELL, rest]


def words(text: str) -> list[str]:
    """Whitespace-separated words; quotes group and are removed, backslash escapes one char."""
    out: list[str] = []
    cur: list[str] = []
    in_word = False
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(text):
                i += 1
                cur.append(text[i])
            else:
                cur.append(ch)
        elif ch in "\"'":
            quote = ch
            in_word = True
        elif ch == "\\" and i + 1 < len(text):
            i += 1
            cur.append(text[i])
            in_word = True
        elif ch.isspace():
            if in_word:
                out.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(ch)
            in_word = True
        i += 1
    if quote:
        raise InvalidParameter(f"unexpected end of statement while looking for matching {quote}")
    if in_word:
        out.append("".join(cur))
    return out


def _pairs(kind: str, rest: str, legacy_space: bool) -> list[tuple[str, str]]:
    parts = words(rest)
    if not parts:
        raise InvalidParameter(f"{kind} requires at least one argument")
    if legacy_space and "=" not in parts[0]:
        # The old "ENV KEY value with spaces" form: everything after the key is the value.
        key, _, value = rest.partition(" ")
        return [(key, " ".join(words(value)) if value.strip() else "")]
    out: list[tuple[str, str]] = []
    for p in parts:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise InvalidParameter(
                f"{kind} names can not be blank"
                if not key
                else f'Syntax error - can\'t find = in "{p}". Must be of the form: name=value'
            )
        out.append((key, value))
    return out


def _ports(specs: list[str]) -> list[str]:
    out: list[str] = []
    for spec in specs:
        port, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidParameter(f"invalid proto: {proto}")
        lo, dash, hi = port.partition("-")
        try:
            first = int(lo)
            last = int(hi) if dash else first
        except ValueError:
            raise InvalidParameter(f"invalid containerPort: {port}") from None
        if not (0 < first <= last <= 65535):
            raise InvalidParameter(f"invalid containerPort: {port}")
        out.extend(f"{p}/{proto}" for p in range(first, last + 1))
    return out


def duration_ns(text: str) -> int:
    """Go's time.ParseDuration, as HEALTHCHECK flags read it."""
    try:
        return timefmt.parse_duration_ns(text)
    except ValueError as e:
        raise InvalidParameter(str(e)) from None


def _healthcheck(rest: str) -> dict[str, Any]:
    """`--change 'HEALTHCHECK ...'`: the Dockerfile instruction's reading (images/healthcheck.py)."""
    flags: dict[str, str] = {}
    tail = rest.strip()
    while tail.startswith("--"):
        flag, _, tail = tail.partition(" ")
        tail = tail.strip()
        name, _, value = flag[2:].partition("=")
        if name not in healthcheck.FLAGS:
            raise InvalidParameter(f"Unknown flag: {name}")
        flags[name] = value
    if not tail:
        raise InvalidParameter("Missing command after HEALTHCHECK CMD")
    try:
        return healthcheck.parse(tail, flags)
    except ValueError as e:
        raise InvalidParameter(str(e)) from None
