"""`system check` of the image side (R1, #17): content blobs against their digests, each
image's config and layer chain, blobs nothing names and leftover temporary files.

The checks read through the stores' own functions: the content store's paths and digests,
ContentRefs for what names a blob (the same rule the start-up sweep applies), the image
config parser and the layer store's chain ids."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from dockyard.core.findings import Finding
from dockyard.images import config as image_config
from dockyard.images.content import CHUNK, ContentStore
from dockyard.images.contentrefs import ContentRefs
from dockyard.state.images import ImageRecord
from dockyard.storage.check import LAYER
from dockyard.storage.layers import chain_id_of

BLOB = "blob"
IMAGE = "image"
TEMP = "temp file"
UNNAMED = "not named by any image, manifest or layer"
CORRUPT = "content does not match its digest"


def blob_ok(content: ContentStore, digest: str) -> bool:
    h = hashlib.sha256()
    with content.open(digest) as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest() == digest


def corrupt_blobs(content: ContentStore, digests: Iterable[str]) -> list[Finding]:
    return [Finding(BLOB, d, CORRUPT) for d in sorted(digests) if not blob_ok(content, d)]


def image_findings(
    images: Iterable[ImageRecord],
    config: Callable[[str], bytes],
    layer_exists: Callable[[str], bool],
) -> list[Finding]:
    """Each image's config is readable and its rootfs diff IDs make the chain it records, every
    layer of which exists."""
    out: list[Finding] = []
    for rec in images:
        try:
            doc = image_config.parse(config(rec.config_digest))
        except Exception:  # noqa: BLE001 - any unreadable config is the finding
            out.append(
                Finding(IMAGE, rec.id, f"config {rec.config_digest} is missing or unreadable")
            )
            continue
        chain: str | None = None
        for diff_id in image_config.diff_ids(doc):
            chain = chain_id_of(chain, diff_id)
            if not layer_exists(chain):
                out.append(Finding(IMAGE, rec.id, f"layer {chain} (diff {diff_id}) does not exist"))
                break
        if chain != rec.top_chain_id:
            problem = f"records top layer {rec.top_chain_id}, its config makes {chain}"
            out.append(Finding(IMAGE, rec.id, problem))
    return out


def check_content(
    content: ContentStore,
    refs: ContentRefs,
    layer_diff_ids: set[str],
    quick: bool,
    repair: bool,
) -> list[Finding]:
    """Corrupt blobs (unless `quick`: that reads every byte), unnamed blobs and what the temp
    dir holds. Repair deletes unnamed blobs and the temp dir's entries; a corrupt blob that
    something names is left for the user (its image is damaged: rmi and pull or load it)."""
    out: list[Finding] = []
    unnamed = set(refs.unreferenced(layer_diff_ids))
    if not quick:
        out += corrupt_blobs(content, content.digests())
    for f in out:  # a corrupt blob nothing names goes as an unnamed one
        f.repairable = f.target in unnamed
    out += [Finding(BLOB, d, UNNAMED, repairable=True) for d in sorted(unnamed)]
    if repair:
        for digest in sorted(unnamed):
            content.delete(digest)
        for f in out:
            f.repaired = f.repairable
    for entry in content.temp_entries():
        f = Finding(TEMP, str(entry), "left by an interrupted write", repairable=True)
        if repair:
            content.remove_temp(entry)
            f.repaired = True
        out.append(f)
    return out


def damaged_images(
    images: Iterable[ImageRecord], config: Callable[[str], bytes], found: Iterable[Finding]
) -> dict[str, str]:
    """The images the findings damage (id -> why), as `--repair` removes them (podman's rule):
    a finding about the image itself, a corrupt config or layer tar of it, or a layer of its
    chain that is broken beyond a recount (missing directory or parent, no record)."""
    found = list(found)
    named = {f.target: f.problem for f in found if f.kind == IMAGE}
    corrupt = {f.target for f in found if f.kind == BLOB and f.problem == CORRUPT}
    broken = {f.target: f.problem for f in found if f.kind == LAYER and not f.repairable}
    out: dict[str, str] = {}
    for rec in images:
        if rec.id in named:
            out[rec.id] = named[rec.id]
            continue
        if rec.config_digest in corrupt:
            out[rec.id] = f"its config {rec.config_digest} is corrupt"
            continue
        try:
            diff_ids = image_config.diff_ids(image_config.parse(config(rec.config_digest)))
        except Exception:  # noqa: BLE001 - unreadable: image_findings reports it
            continue
        chain: str | None = None
        for diff_id in diff_ids:
            chain = chain_id_of(chain, diff_id)
            if diff_id in corrupt:
                out[rec.id] = f"its layer tar {diff_id} is corrupt"
                break
            if chain in broken:
                out[rec.id] = f"its layer {chain}: {broken[chain]}"
                break
    return out
