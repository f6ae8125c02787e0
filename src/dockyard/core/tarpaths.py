"""Safe tar member paths: a member name as components below the extraction root."""

from __future__ import annotations


class Escape(ValueError):
    """A member name whose `..` climbs above the extraction root."""


def member_parts(name: str) -> tuple[str, ...]:
    """The components of `name` below the root: a leading "/" is dropped (names are relative to
    the root, as Docker reads them), "." and empty components vanish, ".." pops one; a ".."
    that would climb above the root raises Escape."""
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise Escape(name)
            parts.pop()
        else:
            parts.append(comp)
    return tuple(parts)
