"""Layer value types (S1-S4): what the layer store hands out and the image, container and build
code keep. The store's contract and lifecycle are in storage/protocols.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    chain_id: str  # "sha256:<hex>"
    diff_id: str  # "sha256:<hex>"
    parent: str | None  # parent chain id
    cache_id: str  # directory name under overlay2/
    size: int  # apparent size of diff/ (hardlinks once), what `docker image ls` sums


@dataclass(frozen=True)
class RWLayer:
    container_id: str
    mount_id: str  # overlay2/<mount_id>: the container's writable layer
    init_id: str  # overlay2/<mount_id>-init
    parent: str | None  # image top chain id


@dataclass(frozen=True)
class Change:
    path: str  # absolute path inside the container, e.g. "/etc/passwd"
    kind: int  # Docker's kinds: 0 modified (C), 1 added (A), 2 deleted (D)
