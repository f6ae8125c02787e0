"""The container record: what the engine keeps of a container. `doc` is Docker's own JSON (Path,
Args, State, Config, HostConfig, Mounts, NetworkSettings and the hostname/hosts/resolv.conf
paths), shown by inspect as it is; what the engine keeps for itself has typed fields, each with
one owner. state/containers.py persists both through one codec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Published:
    """A published port as bound on the host (N2)."""

    proto: str
    container_port: int
    host_ip: str  # "0.0.0.0" for every address, as inspect shows it
    host_port: int

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


@dataclass
class RunState:
    """Owned by services/containers (lifecycle, removal, supervision)."""

    shim_pid: int | None = None  # the monitor of the running process, re-adopted after restart
    manually_stopped: bool = False  # stop/kill/rm -f: restart policies leave it stopped
    restart_count: int = 0


@dataclass
class NetworkState:
    """Owned by network/: the wanted endpoints and what the last start published."""

    wanted: dict[str, Any] = field(default_factory=dict)  # network name -> EndpointSettings
    seeded: bool = False  # the wanted set got the container's primary network once
    if_index: dict[str, int] | None = None  # per interface prefix, the next number to hand out
    published: list[Published] = field(default_factory=list)
    last_ports: dict[str, int] = field(default_factory=dict)  # "80/tcp" -> host port, kept


@dataclass
class HealthState:
    """Owned by services/containers/health.py: `State.Health` as dockerd keeps it (E6)."""

    status: str = "starting"  # starting, healthy, unhealthy
    failing_streak: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)  # the last 5 probe results

    def doc(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak,
                "Log": [dict(r) for r in self.log]}  # fmt: skip


@dataclass
class ContainerRecord:
    id: str
    name: str  # without the leading "/"
    created: str  # RFC3339Nano
    image_id: str
    doc: dict[str, Any] = field(default_factory=dict)
    mount_id: str = ""  # overlay2/<mount_id>: the writable layer (creation)
    log_path: str = ""  # the log driver's file, set at creation ("" for none; runtime/logopts.py)
    run: RunState = field(default_factory=RunState)
    net: NetworkState = field(default_factory=NetworkState)
    health: HealthState | None = None  # None: no healthcheck has run (inspect shows no Health)

    @property
    def state(self) -> dict[str, Any]:
        st: dict[str, Any] = self.doc["State"]
        return st

    @property
    def config(self) -> dict[str, Any]:
        c: dict[str, Any] = self.doc["Config"]
        return c

    @property
    def host_config(self) -> dict[str, Any]:
        h: dict[str, Any] = self.doc["HostConfig"]
        return h
