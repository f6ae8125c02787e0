"""`save`/`load` archive formats (E3).

save writes what Docker 25+ writes: one tar holding an OCI image layout (`oci-layout`, `index.json`,
`blobs/sha256/<hex>` for configs, manifests and uncompressed layer tars) and, pointing into the same
blobs, the docker-archive `manifest.json` and `repositories`.

load reads docker-archive (`manifest.json`, including the old `<id>/layer.tar` directories, whose
duplicates are symlinks) or, when there is no `manifest.json`, the OCI layout (index.json ->
[index ->] manifest -> config + layers). Layers may be compressed (images/compression.py detects
the format from the magic bytes, never from media types).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from dockyard.errors import InvalidParameter
from dockyard.images import reference

OCI_LAYOUT = {"imageLayoutVersion": "1.0.0"}
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ANN_IMAGE_NAME = "io.containerd.image.name"
ANN_REF_NAME = "org.opencontainers.image.ref.name"
CHUNK = 1 << 20
BLOCK = 512


# ---- save ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveImage:
    """One image to write: its config bytes, its layers (diff id, size, opener of the
    uncompressed tar) and the references to record, fully qualified."""

    config: bytes
    config_digest: str
    layers: list[tuple[str, int, Callable[[], BinaryIO]]]
    references: list[str] = field(default_factory=list)


def _header(name: str, size: int, is_dir: bool = False) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = 0 if is_dir else size
    ti.mode = 0o755 if is_dir else 0o644
    ti.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    ti.mtime = 0
    return ti.tobuf(format=tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _member(name: str, data: bytes) -> Iterator[bytes]:
    yield _header(name, len(data)) + data + _pad(len(data))


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def save_stream(images: list[SaveImage]) -> Iterator[bytes]:
    """The archive as a byte stream; layer tars are copied in chunks, never held in memory."""
    yield _header("blobs/", 0, is_dir=True) + _header("blobs/sha256/", 0, is_dir=True)
    written: set[str] = set()
    index: list[dict[str, Any]] = []
    manifest_json: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for img in images:
        layer_descs: list[dict[str, Any]] = []
        for diff_id, size, opener in img.layers:
            hexd = diff_id.removeprefix("sha256:")
            layer_descs.append({"mediaType": MT_LAYER, "digest": diff_id, "size": size})
            if hexd in written:
                continue
            written.add(hexd)
            yield _header(f"blobs/sha256/{hexd}", size)
            copied = 0
            with opener() as f:
                for chunk in iter(lambda f=f: f.read(CHUNK), b""):  # type: ignore[misc]
                    copied += len(chunk)
                    yield chunk
            if copied != size:
                raise InvalidParameter(f"layer {diff_id} changed size while saving")
            yield _pad(size)
        chex = img.config_digest.removeprefix("sha256:")
        if chex not in written:
            written.add(chex)
            yield from _member(f"blobs/sha256/{chex}", img.config)
        manifest = _json(
            {
                "schemaVersion": 2,
                "mediaType": MT_MANIFEST,
                "config": {
                    "mediaType": MT_CONFIG,
                    "digest": img.config_digest,
                    "size": len(img.config),
                },
                "layers": layer_descs,
            }
        )
        mdigest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        if mdigest not in written:
            written.add(mdigest)
            yield from _member(f"blobs/sha256/{mdigest.removeprefix('sha256:')}", manifest)
        desc: dict[str, Any] = {"mediaType": MT_MANIFEST, "digest": mdigest, "size": len(manifest)}
        tagged = [r for r in img.references if "@" not in r]
        if not tagged:
            index.append(desc)
        for ref in tagged:
            annotations = {ANN_IMAGE_NAME: ref, ANN_REF_NAME: ref.rsplit(":", 1)[1]}
            index.append({**desc, "annotations": annotations})
        familiar = [reference.familiar(r) for r in tagged]
        manifest_json.append(
            {
                "Config": f"blobs/sha256/{chex}",
                "RepoTags": familiar or None,
                "Layers": [
                    f"blobs/sha256/{str(d['digest']).removeprefix('sha256:')}" for d in layer_descs
                ],
            }
        )
        if img.layers:
            top = img.layers[-1][0].removeprefix("sha256:")
            for fam in familiar:
                repo, _, tag = fam.rpartition(":")
                repositories.setdefault(repo, {})[tag] = top
    yield from _member(
        "index.json", _json({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": index})
    )
    yield from _member("manifest.json", _json(manifest_json))
    yield from _member("oci-layout", _json(OCI_LAYOUT))
    if repositories:
        yield from _member("repositories", _json(repositories))
    yield b"\0" * (BLOCK * 2)


# ---- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveImage:
    """One image found in an archive: config bytes, layer member names (base first), and the
    references it should be tagged with (as written in the archive)."""

    config: bytes
    layers: list[str]
    tags: list[str]


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    name = posixpath.normpath(name.lstrip("/"))
    try:
        f = tar.extractfile(name)
    except KeyError:
        f = None
    if f is None:
        raise InvalidParameter(f"invalid archive: {name} is missing")
    with f:
        return f.read()


def open_member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    name = posixpath.normpath(name.lstrip("/"))
    try:
        f = tar.extractfile(name)  # follows the symlinks old archives use for shared layers
    except KeyError:
        f = None
    if f is None:
        raise InvalidParameter(f"invalid archive: {name} is missing")
    return f


def _names(tar: tarfile.TarFile) -> set[str]:
    return {posixpath.normpath(m.name) for m in tar.getmembers()}


def tar_error(e: tarfile.TarError) -> str:
    """dockerd's words for an archive its tar reader refuses (its untar runs in a child)."""
    cut = str(e) in ("truncated header", "empty file", "unexpected end of data")
    why = "unexpected EOF" if cut else "archive/tar: invalid tar header"
    return f"Error processing tar file(exit status 1): {why}"


def _unmarshal(value: object, into: str) -> str:
    """encoding/json's words for a manifest.json of the wrong shape, as dockerd answers."""
    kinds = ((dict, "object"), (list, "array"), (str, "string"), (bool, "bool"))
    kind = next((k for t, k in kinds if isinstance(value, t)), "number")
    return f"json: cannot unmarshal {kind} into Go value of type {into}"


def read_images(tar: tarfile.TarFile) -> list[ArchiveImage]:
    names = _names(tar)
    if "manifest.json" in names:
        return _docker_archive(tar)
    if "index.json" in names:
        return _oci_layout(tar)
    raise InvalidParameter(
        "invalid archive: neither manifest.json nor index.json found (not a docker save or OCI layout)"
    )


def _docker_archive(tar: tarfile.TarFile) -> list[ArchiveImage]:
    try:
        entries = json.loads(_read(tar, "manifest.json"))
    except ValueError as e:
        raise InvalidParameter(f"invalid manifest.json: {e}") from e
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise InvalidParameter(_unmarshal(entries, "[]tarexport.manifestItem"))
    for x in entries:
        if not isinstance(x, dict):
            raise InvalidParameter(_unmarshal(x, "tarexport.manifestItem"))
    out = []
    for entry in entries:
        out.append(
            ArchiveImage(
                config=_read(tar, entry["Config"]),
                layers=list(entry.get("Layers") or []),
                tags=list(entry.get("RepoTags") or []),
            )
        )
    return out


def _blob(digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    return f"blobs/{algo}/{hexd}"


def _oci_layout(tar: tarfile.TarFile) -> list[ArchiveImage]:
    index = json.loads(_read(tar, "index.json"))
    out: list[ArchiveImage] = []
    for desc in index.get("manifests") or []:
        ann = desc.get("annotations") or {}
        name = ann.get(ANN_IMAGE_NAME) or ""
        ref_name = ann.get(ANN_REF_NAME) or ""
        if not name and ("/" in ref_name or ":" in ref_name):
            name = ref_name  # a bare "latest" names no repository
        manifest = _resolve_manifest(tar, desc)
        if manifest is None:
            continue
        cfg_digest = manifest["config"]["digest"]
        out.append(
            ArchiveImage(
                config=_read(tar, _blob(cfg_digest)),
                layers=[_blob(layer["digest"]) for layer in manifest.get("layers") or []],
                tags=[name] if name else [],
            )
        )
    return out


def _resolve_manifest(
    tar: tarfile.TarFile, desc: dict[str, Any], depth: int = 0
) -> dict[str, Any] | None:
    if depth > 4:
        raise InvalidParameter("invalid archive: nested indexes too deep")
    doc: dict[str, Any] = json.loads(_read(tar, _blob(desc["digest"])))
    mt = desc.get("mediaType") or doc.get("mediaType")
    if mt in (MT_INDEX, MT_DOCKER_LIST) or "manifests" in doc:
        for sub in doc.get("manifests") or []:
            plat = sub.get("platform") or {}
            if plat and (plat.get("os"), plat.get("architecture")) != ("linux", "amd64"):
                continue
            found = _resolve_manifest(tar, sub, depth + 1)
            if found is not None:
                return found
        return None
    return doc
