"""Registry credentials as the docker CLI keeps them (E5): `~/.docker/config.json` (or
$DOCKER_CONFIG/config.json) with `auths` entries of base64 "user:password", or a credential helper
(`credsStore`, `credHelpers`: `docker-credential-NAME get|store|erase`) when one is configured and
installed; and the `X-Registry-Auth` header the daemon reads."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

HUB = "https://index.docker.io/v1/"


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def _load() -> dict[str, Any]:
    try:
        doc = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _save(doc: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent="\t") + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def server_key(registry: str) -> str:
    """The config's key for a registry: Docker Hub's is its v1 index URL."""
    host = registry.split("://", 1)[-1].rstrip("/")
    if host in ("", "docker.io", "index.docker.io", "registry-1.docker.io") or host.startswith(
        "index.docker.io/"
    ):
        return HUB
    return host.split("/", 1)[0]


def _helper(doc: dict[str, Any], key: str) -> str | None:
    name = (doc.get("credHelpers") or {}).get(key) or doc.get("credsStore")
    if name and shutil.which(f"docker-credential-{name}"):
        return f"docker-credential-{name}"
    return None


def get(registry: str) -> tuple[str, str]:
    """(username, password) stored for a registry, or empty strings."""
    doc, key = _load(), server_key(registry)
    helper = _helper(doc, key)
    if helper:
        r = subprocess.run([helper, "get"], input=key, capture_output=True, text=True, check=False)
        if r.returncode == 0:
            found = json.loads(r.stdout or "{}")
            return str(found.get("Username") or ""), str(found.get("Secret") or "")
        return "", ""
    entry = (doc.get("auths") or {}).get(key) or {}
    packed = entry.get("auth") or ""
    if packed:
        user, _, password = base64.b64decode(packed).decode().partition(":")
        return user, password
    return "", ""


def store(registry: str, username: str, password: str) -> None:
    doc, key = _load(), server_key(registry)
    helper = _helper(doc, key)
    if helper:
        payload = json.dumps({"ServerURL": key, "Username": username, "Secret": password})
        subprocess.run([helper, "store"], input=payload, text=True, check=True, capture_output=True)
        doc.setdefault("auths", {})[key] = {}
    else:
        packed = base64.b64encode(f"{username}:{password}".encode()).decode()
        doc.setdefault("auths", {})[key] = {"auth": packed}
    _save(doc)


def erase(registry: str) -> bool:
    """Forget a registry's credentials; False when there were none."""
    doc, key = _load(), server_key(registry)
    helper = _helper(doc, key)
    if helper:
        subprocess.run([helper, "erase"], input=key, text=True, capture_output=True, check=False)
    had = key in (doc.get("auths") or {})
    if had:
        del doc["auths"][key]
        _save(doc)
    return had or helper is not None


def header(registry: str) -> str:
    """X-Registry-Auth for a registry: base64url JSON, as the docker CLI sends it."""
    user, password = get(registry)
    doc = (
        {"username": user, "password": password, "serveraddress": server_key(registry)}
        if user
        else {}
    )
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()
