"""Raw Engine API requests for the input tests (#17, R1): any body, any headers, and a snapshot
of what the daemon holds, to show a refused request changed nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import UnixHTTPConnection

JSON = {"Content-Type": "application/json"}


def call(sock: Path | str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, Any]:  # fmt: skip
    """One request on its own connection; the answer's JSON (or raw bytes) and status."""
    conn = UnixHTTPConnection(str(sock), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers if headers is not None else JSON)
        resp = conn.getresponse()
        payload = resp.read()
    finally:
        conn.close()
    if payload and "json" in (resp.getheader("Content-Type") or ""):
        return resp.status, json.loads(payload)
    return resp.status, payload


def state(sock: Path | str, changes_of: list[str] | None = None) -> dict[str, Any]:
    """Containers (with their state, and the changes of those in `changes_of`, all when None),
    networks, volumes and images."""
    _, ctrs = call(sock, "GET", "/containers/json?all=1", headers={})
    _, nets = call(sock, "GET", "/networks", headers={})
    _, vols = call(sock, "GET", "/volumes", headers={})
    _, imgs = call(sock, "GET", "/images/json?all=1", headers={})
    containers = {}
    for c in ctrs:
        changes = None
        if changes_of is None or c["Id"] in changes_of:
            _, changes = call(sock, "GET", f"/containers/{c['Id']}/changes", headers={})
        containers[c["Id"]] = (c["Names"], c["State"], c["Command"], changes)
    return {
        "containers": containers,
        "networks": sorted((n["Id"], n["Name"], str(n.get("Containers"))) for n in nets),
        "volumes": sorted(v["Name"] for v in vols["Volumes"] or []),
        "images": sorted((i["Id"], str(i["RepoTags"])) for i in imgs),
    }
