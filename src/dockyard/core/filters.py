"""Docker's `filters` semantics shared by every `ls` and `prune`: key checks, boolean values,
label matching (moby's MatchKVList) and the prune filters `until`, `label` and `label!`, with
dockerd's wording. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.types import Filters

_TRUE, _FALSE = ("true", "1"), ("false", "0")


def check_keys(filters: Filters, allowed: Iterable[str], wording: str = "invalid filter") -> None:
    allowed = tuple(allowed)
    for key in filters:
        if key not in allowed:
            raise errors.InvalidParameter(f"{wording} '{key}'")


def bool_value(key: str, values: list[str]) -> bool:
    """`dangling=true`, `all=1`...: the last value counts; anything but true/false/1/0 is refused."""
    for v in values:
        if v.lower() not in _TRUE + _FALSE:
            raise errors.InvalidParameter(f"invalid filter '{key}={v}'")
    return values[-1].lower() in _TRUE


def labels_match(labels: Mapping[str, object] | None, wanted: list[str]) -> bool:
    """Every `key` or `key=value` in `wanted` is among `labels` (an empty `wanted` matches)."""
    if not wanted:
        return True
    labels = labels or {}
    for spec in wanted:
        key, eq, value = spec.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def until(values: list[str], now: float) -> float | None:
    """The `until` bound as unix seconds (a timestamp, an RFC 3339 date or a Go duration)."""
    if not values:
        return None
    if len(values) > 1:
        raise errors.InvalidParameter("more than one until filter specified")
    try:
        return float(timefmt.api_timestamp(values[0], now))
    except ValueError as e:
        raise errors.InvalidParameter(str(e)) from None


PRUNE_KEYS = ("until", "label", "label!")


def prune_selector(
    filters: Filters, now: float, allowed: Iterable[str] = PRUNE_KEYS,
    wording: str = "invalid filter",
) -> Callable[[float, Mapping[str, object] | None], bool]:  # fmt: skip
    """(created unix seconds, labels) -> prune it? Checked before anything is removed: every
    `label` must match, an object matching every `label!` is kept, `until` bounds its age."""
    check_keys(filters, allowed, wording)
    bound = until(filters.get("until") or [], now)
    keep, drop = filters.get("label") or [], filters.get("label!") or []

    def wanted(created: float, labels: Mapping[str, object] | None) -> bool:
        if bound is not None and created > bound:
            return False
        if not labels_match(labels, keep):
            return False
        return not (drop and labels_match(labels, drop))

    return wanted
