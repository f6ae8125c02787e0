"""The one codec of a container record: Docker's JSON (`doc`) and the engine's typed fields
stored together as one JSON text, `{...doc, "_engine": {...}}`. Records written before the typed
fields existed (their values were top-level doc keys) are read into the fields."""

from __future__ import annotations

import json
from typing import Any

from dockyard.core.container import (
    ContainerRecord,
    HealthState,
    NetworkState,
    Published,
    RunState,
)

ENGINE = "_engine"
# Top-level doc keys of records written before the typed fields (read, never written).
_LEGACY = ("MountId", "LogPath", "ShimPid", "ManuallyStopped", "RestartCount",
           "NetworkingConfig", "NetworksSeeded", "NextIfIndex", "PublishedPorts", "LastPorts")  # fmt: skip


def encode(rec: ContainerRecord) -> str:
    run, net, health = rec.run, rec.net, rec.health
    engine = {
        "mount_id": rec.mount_id,
        "log_path": rec.log_path,
        "run": {"shim_pid": run.shim_pid, "manually_stopped": run.manually_stopped,
                "restart_count": run.restart_count},
        "net": {"wanted": net.wanted, "seeded": net.seeded, "if_index": net.if_index,
                "published": [[p.proto, p.container_port, p.host_ip, p.host_port]
                              for p in net.published],
                "last_ports": net.last_ports},
        "health": None if health is None else
                  {"status": health.status, "failing_streak": health.failing_streak,
                   "log": health.log},
    }  # fmt: skip
    return json.dumps({**rec.doc, ENGINE: engine})


def decode(cid: str, name: str, created: str, image_id: str, text: str) -> ContainerRecord:
    doc: dict[str, Any] = json.loads(text)
    engine = doc.pop(ENGINE, None)
    legacy = {k: doc.pop(k) for k in _LEGACY if k in doc}
    if engine is None:
        engine = _from_legacy(legacy)
    run, net = engine.get("run") or {}, engine.get("net") or {}
    health = engine.get("health")
    return ContainerRecord(
        cid, name, created, image_id, doc,
        mount_id=engine.get("mount_id") or "",
        log_path=engine.get("log_path") or "",
        run=RunState(run.get("shim_pid"), bool(run.get("manually_stopped")),
                     int(run.get("restart_count") or 0)),
        net=NetworkState(
            net.get("wanted") or {}, bool(net.get("seeded")), net.get("if_index"),
            [Published(str(p[0]), int(p[1]), str(p[2]), int(p[3]))
             for p in net.get("published") or []],
            dict(net.get("last_ports") or {}),
        ),
        health=None if health is None else
               HealthState(str(health.get("status") or "starting"),
                           int(health.get("failing_streak") or 0), list(health.get("log") or [])),
    )  # fmt: skip


def _from_legacy(old: dict[str, Any]) -> dict[str, Any]:
    published = [[p["proto"], p["container_port"], p["host_ip"], p["host_port"]]
                 for p in old.get("PublishedPorts") or []]  # fmt: skip
    return {
        "mount_id": old.get("MountId"),
        "log_path": old.get("LogPath"),
        "run": {"shim_pid": old.get("ShimPid"), "manually_stopped": old.get("ManuallyStopped"),
                "restart_count": old.get("RestartCount")},
        "net": {"wanted": (old.get("NetworkingConfig") or {}).get("EndpointsConfig") or {},
                "seeded": old.get("NetworksSeeded"), "if_index": old.get("NextIfIndex"),
                "published": published, "last_ports": old.get("LastPorts")},
    }  # fmt: skip
