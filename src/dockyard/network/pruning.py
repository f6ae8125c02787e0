"""Which unused networks `network prune` removes (N5): Docker's filters `until` (a unix
timestamp, an RFC 3339 date or a Go duration before now), `label` (every one must match) and
`label!` (a network matching every one is kept). Pure: validated before anything is removed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard import errors
from dockyard.images.config import parse_time
from dockyard.units import api_timestamp

ACCEPTED = ("label", "label!", "until")


def _matches_all(labels: dict[str, Any], specs: list[str]) -> bool:
    """Docker's MatchKVList: each `key` or `key=value` is present (an empty set matches)."""
    for spec in specs:
        key, eq, value = spec.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def until_of(values: list[str], now: float) -> float | None:
    if not values:
        return None
    if len(values) > 1:
        raise errors.InvalidParameter("more than one until filter specified")
    try:
        return float(api_timestamp(values[0], now))
    except ValueError as e:
        raise errors.InvalidParameter(str(e)) from None


def selector(filters: dict[str, list[str]], now: float) -> Callable[[str, dict[str, Any]], bool]:
    """(created RFC 3339, labels) -> prune it? Raises on an unknown key or a bad time."""
    for key in filters:
        if key not in ACCEPTED:
            raise errors.InvalidParameter(f"Invalid filter '{key}'")
    until = until_of(filters.get("until") or [], now)
    keep = filters.get("label") or []
    drop = filters.get("label!") or []

    def wanted(created: str, labels: dict[str, Any]) -> bool:
        if until is not None and parse_time(created) > until:
            return False
        if keep and not _matches_all(labels, keep):
            return False
        return not (drop and _matches_all(labels, drop))

    return wanted
