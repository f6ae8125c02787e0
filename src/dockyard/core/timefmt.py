"""Times as Docker writes and reads them: Go's RFC 3339 forms (UTC), and the CLI/API's
`--since/--until` values (docker's timetypes.GetTimestamp). Stdlib only: the CLI imports it."""

from __future__ import annotations

import datetime as dt
import re
import time

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, as inspect shows an unset time


def rfc3339nano(ns: int | None = None) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction are dropped."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def rfc3339_fixed(ns: int | None = None) -> str:
    """RFC 3339 with exactly nine fraction digits (container state times)."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def rfc3339_seconds(secs: float | None = None) -> str:
    """RFC 3339 to the second (a volume's CreatedAt)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if secs is None else secs))


def parse_rfc3339(value: str) -> float:
    """RFC3339(Nano) -> unix seconds (negative for Go's zero time, as dockerd reports it); 0 for
    an empty or unreadable value."""
    if not value:
        return 0.0
    main, tz = value.strip(), "+00:00"
    if main.endswith("Z"):
        main = main[:-1]
    elif len(main) > 6 and main[-6] in "+-" and main[-3] == ":":
        main, tz = main[:-6], main[-6:]
    frac = 0.0
    if "." in main:
        main, digits = main.split(".", 1)
        frac = float("0." + digits) if digits.isdigit() else 0.0
    try:
        return dt.datetime.fromisoformat(main + tz).timestamp() + frac
    except ValueError:
        return 0.0


def is_zero(value: str) -> bool:
    return not value or value.startswith("0001-01-01")


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float | None:
    """time.ParseDuration in seconds, or None when `text` is not a Go duration."""
    if not text or _DURATION_RE.sub("", text) not in ("", "-"):
        return None
    total = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_RE.findall(text))
    return -total if text.startswith("-") else total


def api_timestamp(value: str, now: float) -> str:
    """docker's timetypes.GetTimestamp: a duration means `now - d`, RFC 3339 dates become unix
    seconds, and plain numbers pass through."""
    duration = go_duration(value)
    if duration is not None:
        return f"{now - duration:.9f}"
    try:
        float(value)
        return value
    except ValueError:
        pass
    text = value.replace("Z", "+00:00")
    for fmt in (
        "%Y-%m-%dT%H:%M:%S.%f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S.%f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d",
    ):
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()
        return f"{parsed.timestamp():.9f}"
    raise ValueError(f'failed to parse value as time or duration: "{value}"')


def duration_text(ns: int) -> str:
    """Go's time.Duration.String: 300ms, 1s, 1.5s, 1m30s, 2h0m0s (E6's timeout message)."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size or unit == "ns":
                return sign + _trim(ns / size if size > 1 else ns, size) + unit
    secs, frac = divmod(ns, 1_000_000_000)
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    s_text = str(s) + (f".{frac:09d}".rstrip("0") if frac else "")
    if h:
        return f"{sign}{h}h{m}m{s_text}s"
    if m:
        return f"{sign}{m}m{s_text}s"
    return f"{sign}{s_text}s"


def _trim(value: float, size: int) -> str:
    digits = len(str(size)) - 1
    text = f"{value:.{digits}f}" if digits else str(int(value))
    return text.rstrip("0").rstrip(".") if "." in text else text


_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
             "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}  # fmt: skip
_GO_PART = re.compile(r"(\d*\.?\d*)([^\d.]*)")


def parse_duration_ns(text: str) -> int:
    """Go's time.ParseDuration in nanoseconds; ValueError carries Go's message."""
    quoted = '"' + text + '"'
    s = text[1:] if text[:1] in "+-" else text
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _GO_PART.match(s, pos)
        assert m is not None
        num, unit = m.groups()
        if num in ("", "."):
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(num) * _GO_UNITS[unit]
        pos = m.end()
    return -int(total) if text.startswith("-") else int(total)
