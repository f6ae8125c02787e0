"""Manifests and indexes as registries serve them (E5): the media types we accept and in what
order, parsing of Docker schema 2 and OCI manifests and of manifest lists / OCI indexes, and the
platform choice dockerd makes (the daemon's own os/architecture, or `--platform`)."""

from __future__ import annotations

import hashlib
import json
import platform as host_platform
from dataclasses import dataclass
from typing import Any

from dockyard import errors

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws")  # fmt: skip

# What a pull asks for, as dockerd does: single-platform manifests and the lists above them.
ACCEPT = (DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX)
LISTS = (DOCKER_LIST, OCI_INDEX)
IMAGES = (DOCKER_MANIFEST, OCI_MANIFEST)
CONFIGS = (DOCKER_CONFIG, OCI_CONFIG)

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def host(cls) -> Platform:
        machine = host_platform.machine()
        arch = _ARCH.get(machine, machine)
        return cls("linux", arch, "v8" if arch == "arm64" else "")

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/arm64/v8`, `linux/amd64`, `arm64` (os defaults to linux), as docker's flag."""
        parts = [p.strip().lower() for p in text.split("/")]
        if not text.strip() or len(parts) > 3 or not all(parts):
            raise errors.InvalidParameter(
                f'"{text}": unknown operating system or architecture: invalid argument'
            )
        if len(parts) == 1:
            parts = ["linux", parts[0]]
        os_, arch = parts[0], _normalize_arch(parts[1])
        variant = parts[2] if len(parts) == 3 else ""
        if arch == "arm64" and variant in ("", "8"):
            variant = "v8" if variant else ""
        return cls(os_, arch, variant)

    def matches(self, other: Platform) -> bool:
        """Does an index entry for `other` run here? arm64's variant v8 is its default."""
        if (self.os, self.architecture) != (other.os, _normalize_arch(other.architecture)):
            return False
        if not self.variant:
            return True
        theirs = other.variant or ("v8" if other.architecture == "arm64" else "")
        return theirs == self.variant


def _normalize_arch(arch: str) -> str:
    return {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386"}.get(arch, arch)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, doc: Any) -> Descriptor:
        if not isinstance(doc, dict) or not isinstance(doc.get("digest"), str):
            raise errors.InvalidParameter("invalid manifest: a descriptor has no digest")
        plat = doc.get("platform")
        return cls(
            media_type=str(doc.get("mediaType") or ""),
            digest=doc["digest"],
            size=int(doc.get("size") or 0),
            platform=Platform(
                str(plat.get("os") or ""),
                str(plat.get("architecture") or ""),
                str(plat.get("variant") or ""),
            )
            if isinstance(plat, dict)
            else None,  # fmt: skip
            urls=tuple(doc.get("urls") or ()),
        )


@dataclass(frozen=True)
class Manifest:
    """One platform's image: its config and layers, and the bytes it came as."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes
    digest: str


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes
    digest: str


def parse(raw: bytes, content_type: str, digest: str) -> Manifest | Index:
    """A manifest or an index; the media type comes from the body when it says, else from the
    Content-Type the registry sent."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise errors.InvalidParameter("invalid manifest: not JSON") from None
    if not isinstance(doc, dict):
        raise errors.InvalidParameter("invalid manifest: not a JSON object")
    media_type = str(doc.get("mediaType") or content_type.split(";")[0].strip())
    if media_type in SCHEMA1 or doc.get("schemaVersion") == 1:
        raise errors.InvalidParameter(
            "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has "
            "been removed. Suggest the author of the image to upgrade the image to the OCI "
            "Format or Docker Image manifest v2, schema 2."
        )
    if media_type in LISTS or (not media_type and "manifests" in doc):
        entries = tuple(Descriptor.of(m) for m in doc.get("manifests") or ())
        return Index(media_type or OCI_INDEX, entries, raw, digest)
    if media_type in IMAGES or (not media_type and "config" in doc):
        config = Descriptor.of(doc.get("config"))
        if config.media_type and config.media_type not in CONFIGS:
            raise errors.InvalidParameter(f"unsupported media type {config.media_type}")
        layers = tuple(Descriptor.of(layer) for layer in doc.get("layers") or ())
        return Manifest(media_type or OCI_MANIFEST, config, layers, raw, digest)
    raise errors.InvalidParameter(f"unsupported media type {media_type}")


def choose(index: Index, wanted: Platform) -> Descriptor:
    """The first entry for `wanted` (dockerd takes the first match in the list's order)."""
    for entry in index.manifests:
        if (
            entry.platform is not None
            and entry.media_type not in LISTS
            and wanted.matches(entry.platform)
        ):
            return entry
    raise errors.System(f"no matching manifest for {wanted} in the manifest list entries")
