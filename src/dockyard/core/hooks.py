"""What the container lifecycle asks of the volume and network services. Each is called at fixed
points by services/containers (creation.py, launcher.py, lifecycle.py); implementations live in
volumes/hooks.py and network/service.py and are wired in engine.py.

MountHooks (S8-S10):
    validate(config, host_config)     at create, before anything exists: parse -v/--mount/--tmpfs,
                                      raise Docker's 400s (bad spec, missing --mount bind source)
    prepare(rec, rootfs)              at create, after the rw layer exists (rootfs: the container's
                                      mounted view, for the populate rule): create named and
                                      anonymous volumes, populate empty ones, return the inspect
                                      `.Mounts` list (stored in the record). Undoes itself on error.
    oci_mounts(rec)                   at every start: OCI mount entries for the spec
    release(rec, remove_anonymous)    at rm: drop references; remove anonymous volumes if asked.
                                      Idempotent, best effort.

NetworkHooks (N1-N6):
    validate(host_config, networking_config)   at create, before anything exists; returns
                                               the create response's Warnings
    setup(rec) -> NetworkPlan                  at start, before the spec: make the netns, attach
                                               networks, publish ports; fills
                                               rec.doc["NetworkSettings"]. Undoes itself on error.
    teardown(rec)                              at exit and rm: idempotent, best effort
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dockyard.core.container import ContainerRecord
from dockyard.core.types import Json


class MountHooks(Protocol):
    def validate(self, config: Json, host_config: Json) -> None: ...
    def prepare(self, rec: ContainerRecord, rootfs: Path) -> list[Json]: ...
    def oci_mounts(self, rec: ContainerRecord) -> list[Json]: ...
    def release(self, rec: ContainerRecord, remove_anonymous: bool) -> None: ...


@dataclass(frozen=True)
class NetworkPlan:
    netns_path: str | None  # None: runc makes a fresh netns; "host": the host's
    address: str | None = None  # the container's IP for its own /etc/hosts line
    extra_hosts: list[str] = field(default_factory=list)  # "name:ip": --add-host, then links
    resolv_conf: str | None = None  # None: the host's, minus loopback servers
    env: list[str] = field(default_factory=list)  # link variables (N2)
    # --network container:NAME: NAME's HostnamePath/HostsPath/ResolvConfPath, used as they are
    files: dict[str, str] | None = None


class NetworkHooks(Protocol):
    def validate(self, host_config: Json, networking_config: Json | None) -> list[str]: ...
    def setup(self, rec: ContainerRecord) -> NetworkPlan: ...
    def teardown(self, rec: ContainerRecord) -> None: ...
