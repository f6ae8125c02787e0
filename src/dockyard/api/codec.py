"""Decoding Docker's query strings and bodies, encoding JSON the way Go's encoder does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from dockyard.core.types import Filters
from dockyard.errors import InvalidParameter

_FALSE = {"", "0", "no", "false", "none"}


def query_bool(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    """Docker's boolValue: absent -> default; "", 0, no, false, none -> False; anything else True."""
    if name not in query:
        return default
    return query[name].strip().lower() not in _FALSE


def query_int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f'strconv.Atoi: parsing "{raw}": invalid syntax') from None


def query_optional_int(query: Mapping[str, str], name: str) -> int | None:
    if query.get(name, "") == "":
        return None
    return query_int(query, name, 0)


def query_str(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    return value if value else None


def query_time(query: Mapping[str, str], name: str) -> float | None:
    """`since`/`until` as Unix seconds with an optional fraction ("1700000000.123456789")."""
    raw = query.get(name, "")
    if raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidParameter(f"invalid value for {name}: {raw}") from None


def decode_filters(raw: str | None) -> Filters:
    """Both wire forms: {"k": ["v"]} and the pre-1.22 map form {"k": {"v": true}}."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(go_json_error(exc)) from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid filter: filters must be a JSON object")
    out: Filters = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[str(key)] = [str(v) for v, on in value.items() if on]
        elif isinstance(value, list):
            out[str(key)] = [str(v) for v in value]
        elif isinstance(value, str):
            out[str(key)] = [value]
        else:
            raise InvalidParameter(f"invalid filter: value of {key!r} must be a list")
    return out


def go_json_error(exc: json.JSONDecodeError) -> str:
    """Python's decode error in the words of Go's encoding/json, which clients show verbatim."""
    if exc.pos >= len(exc.doc):
        return "unexpected end of JSON input"
    char = exc.doc[exc.pos]
    quoted = "'\\''" if char == "'" else f"'{char}'"
    msg = exc.msg
    if msg == "Extra data":
        return f"invalid character {quoted} after top-level value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {quoted} looking for beginning of object key string"
    if msg == "Expecting ':' delimiter":
        return f"invalid character {quoted} after object key"
    if msg == "Expecting ',' delimiter":
        inside = "object key:value pair" if _innermost(exc.doc, exc.pos) == "{" else "array element"
        return f"invalid character {quoted} after {inside}"
    return f"invalid character {quoted} looking for beginning of value"


def _innermost(doc: str, pos: int) -> str:
    depth: list[str] = []
    in_string = escaped = False
    for char in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth.append(char)
        elif char in "}]" and depth:
            depth.pop()
    return depth[-1] if depth else ""


def encode(obj: Any) -> bytes:
    # Go's json.Encoder ends every value with a newline; some clients split on it.
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def json_response(obj: Any, status: int = 200) -> web.Response:
    # bytes body keeps Content-Type exactly "application/json" (no charset), as dockerd sends.
    return web.Response(body=encode(obj), status=status, content_type="application/json")
