"""Registry credentials as the docker CLI keeps them (E5): `~/.docker/config.json` (or
$DOCKER_CONFIG/config.json) with `auths` entries of base64 "user:password", or a credential helper
(`credHelpers` for the registry, else `credsStore`: `docker-credential-NAME store|get|erase`, its
data on stdin) with an empty `auths` entry beside it; and the `X-Registry-Auth` header the daemon
reads. As the docker CLI: a configured helper is used even when it is missing (its failure is
an error, never a fall back to plain text in config.json); a helper's username `<token>` marks
an identity token; a helper that fails while a pull looks credentials up leaves the pull
anonymous; logout erases every name the credentials may be kept under."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HUB = "https://index.docker.io/v1/"
NOT_FOUND = "credentials not found in native keychain"  # a helper's answer for an unknown server
TOKEN_USER = "<token>"  # a helper's username for an identity token


class HelperError(Exception):
    """A credential helper failed, in the docker CLI's words: `error storing credentials - err:
    exit status 1, out: `...``."""


@dataclass(frozen=True)
class Auth:
    username: str = ""
    password: str = ""
    identity_token: str = ""


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


def _helper(doc: dict[str, Any], key: str) -> str:
    """The helper configured for `key` ('' for none: config.json itself keeps credentials)."""
    return str((doc.get("credHelpers") or {}).get(key) or doc.get("credsStore") or "")


def _call(helper: str, action: str, data: str) -> str | None:
    """`docker-credential-HELPER ACTION` with `data` on stdin: its output, or None when it has
    nothing for that server; any other failure raises HelperError."""
    program = f"docker-credential-{helper}"
    verb = {"store": "storing", "get": "getting", "erase": "erasing"}[action]
    try:
        r = subprocess.run([program, action], input=data, capture_output=True, text=True,
                           check=False, timeout=60)  # fmt: skip
    except FileNotFoundError:
        raise HelperError(f'error {verb} credentials - err: exec: "{program}": executable file '
                          "not found in $PATH, out: ``") from None  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HelperError(f"error {verb} credentials - err: {e}, out: ``") from None
    out = r.stdout.strip()
    if r.returncode == 0:
        return out
    if out == NOT_FOUND:
        return None
    raise HelperError(f"error {verb} credentials - err: exit status {r.returncode}, out: `{out}`")


def get(registry: str) -> Auth:
    """The credentials kept for a registry (empty when none, or when its helper fails)."""
    doc, key = _load(), server_key(registry)
    helper = _helper(doc, key)
    if helper:
        try:
            found = json.loads(_call(helper, "get", key) or "{}")
        except (HelperError, ValueError):
            return Auth()
        user, secret = str(found.get("Username") or ""), str(found.get("Secret") or "")
        return Auth(identity_token=secret) if user == TOKEN_USER else Auth(user, secret)
    entry = (doc.get("auths") or {}).get(key) or {}
    packed = entry.get("auth") or ""
    if packed:
        user, _, password = base64.b64decode(packed).decode().partition(":")
        return Auth(user, password)
    return Auth()


def store(registry: str, username: str, password: str) -> None:
    """Keep a registry's credentials (raises HelperError when its helper fails)."""
    doc, key = _load(), server_key(registry)
    helper = _helper(doc, key)
    if helper:
        _call(helper, "store", json.dumps({"ServerURL": key, "Username": username,
                                           "Secret": password}))  # fmt: skip
        doc.setdefault("auths", {})[key] = {}
    else:
        packed = base64.b64encode(f"{username}:{password}".encode()).decode()
        doc.setdefault("auths", {})[key] = {"auth": packed}
    _save(doc)


def erase(registry: str) -> list[str]:
    """Forget a registry's credentials under each name the docker CLI may have kept them by
    (as given, its host, http:// and https:// of it), each through its own store. Returns the
    failures (`NAME: error`) when every name failed, else []."""
    doc, key = _load(), server_key(registry)
    names = [key] if key == HUB else list(dict.fromkeys([registry, key, f"http://{key}",
                                                          f"https://{key}"]))  # fmt: skip
    failed = []
    for name in names:
        helper = _helper(doc, name)
        try:
            if helper:
                _call(helper, "erase", name)
        except HelperError as e:
            failed.append(f"{name}: {e}")
            continue
        (doc.get("auths") or {}).pop(name, None)
    if len(failed) < len(names):
        _save(doc)
    return failed if len(failed) == len(names) else []


def header(registry: str) -> str:
    """X-Registry-Auth for a registry: base64url JSON, as the docker CLI sends it."""
    auth, key = get(registry), server_key(registry)
    doc: dict[str, str] = {}
    if auth.username:
        doc = {"username": auth.username, "password": auth.password, "serveraddress": key}
    elif auth.identity_token:
        doc = {"serveraddress": key, "identitytoken": auth.identity_token}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()
