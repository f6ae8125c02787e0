"""HEALTHCHECK (E6) as dockerd 20.10's legacy builder reads it: `NONE`, or `CMD` in the shell form
(CMD-SHELL) or the JSON form (CMD) with --interval/--timeout/--start-period/--retries (no
--start-interval before Docker 25); its words for each mistake; the `#(nop)` history text Go's
`%q` makes of the HealthConfig; and the image config's field-wise merge with the parent's."""

from __future__ import annotations

import json
from typing import Any

from dockyard.core import timefmt
from dockyard.core.types import Json
from dockyard.images.jsonform import json_form

FLAGS = frozenset({"interval", "timeout", "start-period", "retries"})
_MIN = 1_000_000  # dockerd's container.MinimumDuration (1ms)


def parse(rest: str, flags: dict[str, str]) -> Json:
    """The HealthConfig of `HEALTHCHECK <rest>`; ValueError with dockerd's message."""
    typ, _, args = rest.strip().partition(" ")
    typ, args = typ.upper(), args.strip()
    if typ == "NONE":
        if args:
            raise ValueError("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if typ != "CMD":
        raise ValueError(f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
    form = json_form(args)
    if form is not None:
        test = ["CMD", *form]
    elif args:
        test = ["CMD-SHELL", args]
    else:
        test = []
    if len(test) < 2:
        raise ValueError("Missing command after HEALTHCHECK CMD")
    hc: Json = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod")):  # fmt: skip
        value = flags.get(flag, "")
        if value:
            ns = timefmt.parse_duration_ns(value)
            if ns < _MIN:
                raise ValueError(f'Interval "{flag}" cannot be less than 1ms')
            hc[key] = ns
    retries = flags.get("retries", "")
    if retries:
        try:
            n = int(retries, 10)
        except ValueError:
            raise ValueError(f'strconv.ParseInt: parsing "{retries}": invalid syntax') from None
        if n < 1:
            raise ValueError(f"--retries must be at least 1 (not {n})")
        hc["Retries"] = n
    return hc


def merged(new: Json, parent: Any) -> Json:
    """The image config's Healthcheck: what the commit after the step keeps, with fields the
    step left unset taken from the parent's (dockerd merges the run config into the image's)."""
    out = dict(new)
    for k, v in (parent or {}).items():
        if not out.get(k):
            out[k] = v
    return out


def history(hc: Json) -> str:
    """`HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\\x00'}`: Go's %q of the config."""
    test = " ".join(_go_quote(t) for t in hc.get("Test") or [])
    durations = " ".join(
        _go_quote(timefmt.duration_text(int(hc.get(k) or 0)))
        for k in ("Interval", "Timeout", "StartPeriod")
    )
    return f"HEALTHCHECK &{{[{test}] {durations} {_go_rune(int(hc.get('Retries') or 0))}}}"


def overridden(parent: Any) -> str | None:
    """dockerd's note when a HEALTHCHECK replaces one (not NONE): Go's %v of the old Test."""
    old = list((parent or {}).get("Test") or [])
    if old and old[0] != "NONE":
        return f"Note: overriding previous HEALTHCHECK: [{' '.join(old)}]\n"
    return None


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _go_rune(n: int) -> str:
    if n == 39:
        return "'\\''"
    if n == 92:
        return "'\\\\'"
    if 32 <= n < 127 or (n > 160 and chr(n).isprintable()):
        return f"'{chr(n)}'"
    if n < 256:
        escapes = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r"}
        return f"'\\{escapes[n]}'" if n in escapes else f"'\\x{n:02x}'"
    return f"'\\u{n:04x}'"
