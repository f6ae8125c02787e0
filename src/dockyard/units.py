"""Go-units arithmetic as Docker prints and parses it, shared by the daemon and the (lightweight,
stdlib-only) CLI: human durations, decimal sizes with three significant digits, binary sizes
(BytesSize), RAMInBytes."""

from __future__ import annotations

import re

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_BINARY_MULT = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_RAM_RE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def human_duration(seconds_f: float) -> str:
    """go-units HumanDuration: the coarse wording of `docker ps` CREATED and STATUS."""
    seconds = int(seconds_f)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = int(seconds_f / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds_f / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds_f / 3600 / 24 / 365)} years"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `%.<precision>g`."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"%.{precision}g%s" % (size, _DECIMAL_UNITS[i])


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, `%.4g` (`docker stats` MEM USAGE / LIMIT)."""
    i = 0
    while size >= 1024.0 and i < len(_BINARY_UNITS) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{_BINARY_UNITS[i]}"


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: `512m`, `1g`, `1.5GiB`; binary multiples. Raises ValueError with
    go-units' wording so callers can wrap it in the flag error."""
    m = _RAM_RE.match(text)
    if m is None:
        raise ValueError(f"invalid size: '{text}'")
    try:
        value = float(m.group(1))
    except ValueError:
        raise ValueError(f"invalid size: '{text}'") from None
    unit = (m.group(2) or "").lower()
    return int(value * _BINARY_MULT.get(unit, 1))
