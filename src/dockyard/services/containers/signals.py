"""Signal names as Docker accepts them: "SIGKILL", "KILL", "9", "sigterm"."""

from __future__ import annotations

import signal

from dockyard import errors


def parse(value: str | int | None, default: int = signal.SIGTERM) -> int:
    if value is None or value == "":
        return int(default)
    if isinstance(value, int) or str(value).isdigit():
        n = int(value)
        if n <= 0 or n > 64:
            raise errors.InvalidParameter(f"Invalid signal: {value}")
        return n
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise errors.InvalidParameter(f"Invalid signal: {value}") from None
