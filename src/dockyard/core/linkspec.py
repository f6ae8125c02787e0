"""A legacy link as HostConfig.Links stores it (N2): the target's name and the alias the
linking container knows it by; the link's own name is `/<parent>/<alias>`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    name: str  # the target's name, without "/"
    alias: str


def parse(spec: str) -> Link:
    """`name[:alias]` as the CLI sends it, or the stored `/name:/parent/alias` form."""
    name, _, alias = spec.partition(":")
    name = name.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else name
    return Link(name, alias)
