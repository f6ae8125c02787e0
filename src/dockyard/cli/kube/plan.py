"""What `kube play` will make, as plain values: the manifest checked and resolved before anything
is created (#19, E7; D-kube-3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AnyDict = dict[str, Any]


@dataclass
class Mount:
    """One mount of a container: `volume` (a named volume), `bind` or `tmpfs`."""

    kind: str
    source: str
    target: str
    read_only: bool = False
    size: int = 0  # tmpfs bytes, 0 for the default


@dataclass
class Container:
    name: str
    image: str
    command: list[str] | None = None  # the Entrypoint
    args: list[str] | None = None  # the Cmd
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    ports: list[tuple[int, str, int, str]] = field(default_factory=list)  # (ctr, proto, host, ip)
    memory: int = 0
    memory_reservation: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0  # from requests.cpu
    healthcheck: AnyDict | None = None
    mounts: list[Mount] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    read_only: bool = False
    tty: bool = False
    stdin: bool = False


@dataclass
class Volume:
    """A volume `play` creates for a pod: a claim (kept if it exists) or pod-scoped files."""

    name: str
    claim: bool = False  # a PersistentVolumeClaim: reuse the named volume when it exists
    files: dict[str, bytes] = field(default_factory=dict)  # configMap/secret contents
    mode: int = 0o644


@dataclass
class Pod:
    name: str
    owner: str  # "Pod/name" or "Deployment/name": what `kube down` looks for
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    restart: str = "always"
    hostname: str = ""
    containers: list[Container] = field(default_factory=list)
    init_containers: list[Container] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    extra_ports: list[tuple[int, str, int, str]] = field(default_factory=list)  # from Services
    dns: AnyDict = field(default_factory=dict)  # the infra container's Dns/DnsSearch/DnsOptions
    extra_hosts: list[str] = field(default_factory=list)  # hostAliases as `name:ip`


@dataclass
class Plan:
    pods: list[Pod] = field(default_factory=list)
    claims: list[Volume] = field(default_factory=list)  # PersistentVolumeClaim documents
    owners: list[str] = field(default_factory=list)  # every owner the file names (for down)
