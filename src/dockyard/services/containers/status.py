"""What `ps` shows: the Status sentence, list filters and the summary row (GET /containers/json)."""

from __future__ import annotations

import re
import time
from typing import Any

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.container import ContainerRecord, HealthState
from dockyard.core.filters import labels_match
from dockyard.units import human_duration


def size_stamp(rec: ContainerRecord) -> tuple[str, str] | None:
    """The key under which a walked SizeRw stays valid (storage/usage.py): None while the
    container runs (or may run: anything can write, so each `ps -s` walks it), else its last
    start and finish, which every later start changes; `cp` into a stopped container drops
    the cache itself."""
    st = rec.state
    if st.get("Status") not in ("created", "exited", "dead"):
        return None
    return (str(st.get("StartedAt")), str(st.get("FinishedAt")))


def state_name(st: dict[str, Any]) -> str:
    return str(st["Status"])


def status_text(
    st: dict[str, Any], now: float | None = None, health: HealthState | None = None
) -> str:
    now = time.time() if now is None else now
    status = st["Status"]
    if status in ("running", "paused"):
        up = f"Up {human_duration(now - timefmt.parse_rfc3339(st['StartedAt']))}"
        if status == "paused":
            return up + " (Paused)"
        if health is not None:  # E6: (healthy), (unhealthy), (health: starting)
            word = health.status
            return f"{up} (health: {word})" if word == "starting" else f"{up} ({word})"
        return up
    if status == "restarting":
        ago = human_duration(now - timefmt.parse_rfc3339(st["FinishedAt"]))
        return f"Restarting ({st['ExitCode']}) {ago} ago"
    if status == "removing":
        return "Removal In Progress"
    if status == "dead":
        return "Dead"
    if status == "created":
        return "Created"
    if timefmt.is_zero(st["FinishedAt"]):
        return ""
    return f"Exited ({st['ExitCode']}) {human_duration(now - timefmt.parse_rfc3339(st['FinishedAt']))} ago"


_FILTER_KEYS = {
    "id", "name", "label", "status", "ancestor", "exited", "before", "since", "health",
    "isolation", "network", "publish", "expose", "volume", "is-task",
}  # fmt: skip
_STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
_HEALTH = ("starting", "healthy", "unhealthy", "none")


def validate_filters(filters: dict[str, list[str]]) -> None:
    for k, values in filters.items():
        if k not in _FILTER_KEYS:
            raise errors.InvalidParameter(f"invalid filter '{k}'")
        if k == "status":
            for v in values:
                if v not in _STATUSES:
                    raise errors.InvalidParameter(f"invalid filter 'status={v}'")
        if k == "health":
            for v in values:
                if v not in _HEALTH:
                    raise errors.InvalidParameter(f"Unrecognised filter value for health: {v}")


def matches(
    rec: ContainerRecord,
    filters: dict[str, list[str]],
    image_matches: Any,
) -> bool:
    """`image_matches(ref, image_id) -> bool` resolves `ancestor=` through the image store."""
    st = rec.state
    for k, values in filters.items():
        if not values:
            continue
        if k == "id" and not any(rec.id.startswith(v) for v in values):
            return False
        if k == "name" and not any(re.search(v.lstrip("/"), rec.name) for v in values):
            return False
        if k == "label" and not labels_match(rec.config.get("Labels"), values):
            return False
        if k == "status" and st["Status"] not in values:
            return False
        if k == "exited" and (st["Status"] != "exited" or str(st["ExitCode"]) not in values):
            return False
        if k == "health" and health_word(rec) not in values:
            return False
        if k == "ancestor" and not any(image_matches(v, rec.image_id) for v in values):
            return False
    return True


def health_word(rec: ContainerRecord) -> str:
    """What `health=` filters on: the health status, `none` without a healthcheck."""
    return "none" if rec.health is None else rec.health.status


def summary(rec: ContainerRecord, image_ref: str, now: float) -> dict[str, Any]:
    cfg = rec.config
    cmd = rec.doc.get("Path", "")
    args = rec.doc.get("Args") or []
    command = " ".join([cmd, *args]) if cmd else ""
    mode = rec.host_config.get("NetworkMode") or "default"
    return {
        "Id": rec.id,
        "Names": ["/" + rec.name],
        "Image": image_ref,
        "ImageID": rec.image_id,
        "Command": command,
        "Created": int(timefmt.parse_rfc3339(rec.created)),
        "Ports": _ports(rec.doc.get("NetworkSettings", {}).get("Ports") or {}),
        "Labels": cfg.get("Labels") or {},
        "State": rec.state["Status"],
        "Status": status_text(rec.state, now, rec.health),
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": rec.doc.get("NetworkSettings", {}).get("Networks", {})},
        "Mounts": rec.doc.get("Mounts") or [],
    }


def _ports(ports: dict[str, Any]) -> list[dict[str, Any]]:
    """`NetworkSettings.Ports` in the list form `GET /containers/json` uses."""
    out: list[dict[str, Any]] = []
    for key, bindings in ports.items():
        port, _, proto = key.partition("/")
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto})
        for b in bindings or []:
            out.append({"IP": b["HostIp"], "PrivatePort": int(port),
                        "PublicPort": int(b["HostPort"]), "Type": proto})  # fmt: skip
    return out
