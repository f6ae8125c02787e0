"""The image config JSON (S1, S6, E3): build it for import and commit, apply `--change` lines the way
Docker's commit/import do, and derive the image id from the stored bytes.

The id is "sha256:" + sha256 of the config bytes exactly as stored, so a loaded image keeps the id
it had elsewhere; configs we build are serialized canonically (sorted keys, no spaces).
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath

from dockyard.core.types import Json
from dockyard.errors import InvalidParameter
from dockyard.images import changes as change_lines

ARCHITECTURE = "amd64"
OS = "linux"
DOCKER_VERSION = "24.0.0-dockyard"
# sha256 of a tar holding no entries (two zero blocks, as Go's archive/tar writes): Docker's
# "empty layer", which commit records as a history entry only.
EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def empty_container_config() -> Json:
    """The container Config Docker writes into imported images: every field present, zero-valued."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }


def apply_changes(config: Json, changes: list[str]) -> Json:
    """A copy of `config` with each `--change` line applied in order (commit, import)."""
    out = copy.deepcopy(config)
    cmd_set = False
    for line in changes:
        parsed = change_lines.parse(line)
        if parsed is None:
            continue
        kind, value = parsed
        if kind == "CMD":
            out["Cmd"] = value
            cmd_set = True
        elif kind == "ENTRYPOINT":
            out["Entrypoint"] = value
            if not cmd_set:  # the builder drops an inherited CMD when ENTRYPOINT changes
                out["Cmd"] = None
        elif kind == "ENV":
            out["Env"] = _merge_env(out.get("Env") or [], value)
        elif kind == "LABEL":
            out["Labels"] = {**(out.get("Labels") or {}), **value}
        elif kind == "EXPOSE":
            out["ExposedPorts"] = {**(out.get("ExposedPorts") or {}), **{p: {} for p in value}}
        elif kind == "VOLUME":
            out["Volumes"] = {**(out.get("Volumes") or {}), **{v: {} for v in value}}
        elif kind == "WORKDIR":
            out["WorkingDir"] = posixpath.normpath(
                posixpath.join("/", out.get("WorkingDir") or "/", value)
            )
        elif kind == "USER":
            out["User"] = value
        elif kind == "STOPSIGNAL":
            out["StopSignal"] = value
        elif kind == "ONBUILD":
            out["OnBuild"] = [*(out.get("OnBuild") or []), value]
        elif kind == "HEALTHCHECK":
            out["Healthcheck"] = value
    return out


def _merge_env(env: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    out = list(env)
    for key, value in pairs:
        entry = f"{key}={value}"
        for i, existing in enumerate(out):
            if existing.split("=", 1)[0] == key:
                out[i] = entry
                break
        else:
            out.append(entry)
    return out


def merge_commit_config(container_config: Json, override: Json | None) -> Json:
    """Docker's commit merge: fields set in the request's config win, the rest come from the
    container (daemon/commit.go merge)."""
    base = copy.deepcopy(container_config)
    if not override:
        return base
    for key, value in override.items():
        if value in (None, "", [], {}) and key in base:
            continue
        if key in ("Env",) and base.get("Env"):
            pairs = [tuple(e.split("=", 1)) if "=" in e else (e, "") for e in value]
            base["Env"] = _merge_env(base["Env"], [(k, v) for k, v in pairs])
            continue
        if key in ("ExposedPorts", "Volumes", "Labels") and base.get(key):
            base[key] = {**base[key], **value}
            continue
        base[key] = copy.deepcopy(value)
    return base


def history_entry(
    created: str,
    created_by: str = "",
    comment: str = "",
    author: str = "",
    empty_layer: bool = False,
) -> Json:
    entry: Json = {"created": created}
    if author:
        entry["author"] = author
    if created_by:
        entry["created_by"] = created_by
    if comment:
        entry["comment"] = comment
    if empty_layer:
        entry["empty_layer"] = True
    return entry


def new_image(
    *,
    parent: Json | None,
    config: Json,
    diff_id: str | None,
    history: Json,
    created: str,
    author: str = "",
    comment: str = "",
    container: str = "",
    container_config: Json | None = None,
) -> Json:
    """A child of `parent` (or a base image) with one more history entry and, unless `diff_id` is
    None, one more layer (NewChildImage in moby)."""
    diff_ids = list((parent or {}).get("rootfs", {}).get("diff_ids") or [])
    if diff_id is not None:
        diff_ids.append(diff_id)
    doc: Json = {
        "architecture": ARCHITECTURE,
        "config": config,
        "created": created,
        "docker_version": DOCKER_VERSION,
        "history": [*((parent or {}).get("history") or []), history],
        "os": OS,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if author:
        doc["author"] = author
    if comment:
        doc["comment"] = comment
    if container:
        doc["container"] = container
    if container_config is not None:
        doc["container_config"] = container_config
    return doc


def canonical_bytes(doc: Json) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def image_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse(raw: bytes) -> Json:
    """Validate a config read from an archive or the content store."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidParameter(f"invalid image config: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidParameter("invalid image config: not a JSON object")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidParameter('invalid image config: rootfs type must be "layers"')
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidParameter("invalid image config: bad rootfs.diff_ids")
    return doc


def diff_ids(doc: Json) -> list[str]:
    return list(doc.get("rootfs", {}).get("diff_ids") or [])


def history_with_layers(doc: Json) -> list[tuple[Json, str | None]]:
    """Pair each history entry with the diff id it added (None for empty_layer entries), oldest
    first. Images without history get one synthetic row per layer, as Docker shows them."""
    ids = diff_ids(doc)
    history = list(doc.get("history") or [])
    if not history:
        return [({"created": doc.get("created", "")}, d) for d in ids]
    out: list[tuple[Json, str | None]] = []
    i = 0
    for h in history:
        if h.get("empty_layer"):
            out.append((h, None))
        else:
            out.append((h, ids[i] if i < len(ids) else None))
            i += 1
    return out
