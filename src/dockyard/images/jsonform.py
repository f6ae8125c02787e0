"""The JSON (exec) form of a Dockerfile instruction's arguments: `["a", "b"]` is a list of
strings; anything else (not JSON, not a list of strings) is the shell form, as Docker falls back."""

from __future__ import annotations

import json


def json_form(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None
