"""How Go's fmt prints values and the function map docker-cli gives its templates. Values come from
decoded JSON (dicts, lists, str, int, float, bool, None) or from row objects with attributes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any


class TemplateError(Exception):
    """A template failed to parse or execute; the message follows Go's wording loosely."""


class _NoValue:
    """What a missing map key evaluates to; Go prints it as `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


def go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), which fmt uses for %v: shortest digits, exponent
    form when the decimal exponent is < -4 or >= 6."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    from decimal import Decimal

    sign = "-" if f < 0 else ""
    d = Decimal(repr(abs(f)))
    digits = "".join(str(x) for x in d.as_tuple().digits).rstrip("0") or "0"
    exp = d.adjusted()
    if exp < -4 or exp >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, frac = digits[: exp + 1].ljust(exp + 1, "0"), digits[exp + 1 :]
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def go_str(value: Any) -> str:
    """fmt.Sprint for one operand."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        items = " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value))
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def truthy(value: Any) -> bool:
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


def to_json(value: Any) -> str:
    if value is NO_VALUE:
        return "null"
    if hasattr(value, "as_json"):
        # Row contexts marshal themselves with json.Marshal, which escapes HTML characters.
        text = json.dumps(value.as_json(), ensure_ascii=False, separators=(",", ":"))
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(ch, esc)
        return text
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_VERB_RE = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use: %s %v %d %q %f %x %t %%."""
    it = iter(args)
    out: list[str] = []
    pos = 0
    for m in _VERB_RE.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        try:
            arg = next(it)
        except StopIteration:
            out.append(f"%!{verb}(MISSING)")
            continue
        if verb in "sv":
            text = go_str(arg)
            if prec is not None and verb == "s":
                text = text[: int(prec)]
        elif verb == "q":
            text = json.dumps(go_str(arg), ensure_ascii=False)
        elif verb == "t":
            text = go_str(arg)
        elif verb in "dxXo" and isinstance(arg, int | float):
            text = format(int(arg), {"d": "d", "x": "x", "X": "X", "o": "o"}[verb])
        elif verb in "feEgG" and isinstance(arg, int | float):
            text = f"%.{prec or 6}{verb}" % arg
        else:
            text = f"%!{verb}({go_str(arg)})"
        if width and width != "*":
            text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
        out.append(text)
    out.append(fmt[pos:])
    extra = list(it)
    if extra:
        out.append("%!(EXTRA " + ", ".join(go_str(a) for a in extra) + ")")
    return "".join(out)


def go_sprint(*args: Any) -> str:
    # fmt.Sprint adds spaces between operands when neither side is a string.
    out = ""
    for i, a in enumerate(args):
        if i > 0 and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(a)
    return out


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, NO_VALUE)
        elif isinstance(value, list | tuple | str):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise TemplateError(f"error calling index: index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(
                f"error calling index: can't index item of type {type(value).__name__}"
            )
    return value


def _length(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    raise TemplateError(f"error calling len: len of type {type(value).__name__}")


def _title(text: Any) -> str:
    return re.sub(r"(^|[^\w])(\w)", lambda m: m.group(1) + m.group(2).upper(), go_str(text))


def _truncate(text: Any, n: int) -> str:
    s = go_str(text)
    return s[:n]


def _pad(text: Any, left: int, right: int) -> str:
    return " " * left + go_str(text) + " " * right


def _compare(op: str) -> Callable[..., bool]:
    def cmp(a: Any, *bs: Any) -> bool:
        if op == "eq":
            return any(a == b for b in bs)
        b = bs[0]
        return bool({"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op])

    return cmp


def _and(*args: Any) -> Any:
    for a in args:
        if not truthy(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if truthy(a):
            return a
    return args[-1]


FUNCS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "join": lambda xs, sep: sep.join(go_str(x) for x in xs),
    "split": lambda s, sep: go_str(s).split(sep),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": _title,
    "truncate": _truncate,
    "pad": _pad,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "print": go_sprint,
    "printf": go_sprintf,
    "len": _length,
    "index": _index,
    "not": lambda a: not truthy(a),
    "and": _and,
    "or": _or,
    **{op: _compare(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
}
