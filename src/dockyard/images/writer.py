"""Storing new images: layer tars into the content store and the layer store, config blob, record.

Reference rules (storage/protocols.py): register() hands us one reference on each layer; a stored
image keeps exactly one, on its top layer. So while a chain is being registered, the reference on
the previous layer is dropped as soon as its child holds it, and when the image turns out to exist
already, the top reference we got is dropped too.
"""

from __future__ import annotations

import logging
import tarfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from dockyard.core import timefmt
from dockyard.core.layers import Layer
from dockyard.crashpoints import crashpoint
from dockyard.errors import InvalidParameter, NotFound
from dockyard.images import config as image_config
from dockyard.images.content import ContentStore
from dockyard.images.contentrefs import ContentRefs
from dockyard.state.images import ImageRecord, ImageRepo
from dockyard.state.layerblobs import LayerBlobRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def chunks_of(src: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    if hasattr(src, "read"):
        reader: BinaryIO = src  # type: ignore[assignment]
        yield from iter(lambda: reader.read(CHUNK), b"")
    else:
        yield from src  # type: ignore[misc]


class ImageWriter:
    """Used by the image service for import, commit, load and bootstrap. Not thread-safe on its
    own: the service serializes store() calls under its lock."""

    def __init__(
        self,
        repo: ImageRepo,
        content: ContentStore,
        layers: LayerStore,
        blobs: LayerBlobRepo | None = None,
    ) -> None:
        self.repo = repo
        self.content = content
        self.layers = layers
        self.refs = ContentRefs(repo, content, blobs)  # what may go when an image goes

    def ingest_tar(self, src: BinaryIO | Iterable[bytes]) -> str:
        """Keep an uncompressed layer tar in the content store; returns its diff id. The blob is
        what save writes back out, byte for byte, so configs' diff ids stay valid."""
        return self.content.ingest(chunks_of(src))

    def is_empty_tar(self, diff_id: str) -> bool:
        if diff_id == image_config.EMPTY_LAYER_DIFF_ID:
            return True
        if self.content.size(diff_id) > 20 * 512:  # Python pads to a 10 KiB record at most
            return False
        try:
            with self.content.open(diff_id) as f, tarfile.open(fileobj=f, mode="r:") as tar:
                return tar.next() is None
        except tarfile.TarError:
            return False

    def register(self, diff_id: str, parent: str | None) -> Layer:
        """Register the stored tar `diff_id` on `parent`; the caller gets one reference."""
        with self.content.open(diff_id) as f:
            layer = self.layers.register(f, parent)
        if layer.diff_id != diff_id:
            self.layers.release(layer.chain_id)
            raise InvalidParameter(
                f"layer digest mismatch: expected {diff_id}, got {layer.diff_id}"
            )
        return layer

    def register_chain(self, diff_ids: list[str], base: str | None = None) -> str | None:
        """Register stored tars as one chain on `base` (no reference taken on base); returns the
        top chain id holding exactly one new reference (None when there are no layers)."""
        top: str | None = None
        parent = base
        try:
            for diff_id in diff_ids:
                layer = self.register(diff_id, parent)
                if top is not None:
                    self.layers.release(top)  # the child holds it now
                top = layer.chain_id
                parent = top
        except BaseException:
            if top is not None:
                self.layers.release(top)
            raise
        if top is None and base is not None:
            self.layers.retain(base)
            return base
        return top

    def store(self, raw: bytes, top: str | None, parent: str | None) -> tuple[str, bool]:
        """Record an image whose layers are registered (one reference on `top` is handed over).
        Returns (image id, created); when the image already exists the reference is dropped."""
        doc = image_config.parse(raw)
        image_id = image_config.image_id(raw)
        if self.repo.get(image_id) is not None:
            if top is not None:
                self.layers.release(top)
            return image_id, False
        try:
            self.content.put(raw, expected=image_id)
            size = sum(layer.size for layer in self.layers.chain(top)) if top else 0
            created = doc.get("created") or ""
            rec = ImageRecord(
                id=image_id,
                config_digest=image_id,
                top_chain_id=top,
                parent=parent,
                created=created,
                created_unix=timefmt.parse_rfc3339(created),
                size=size,
            )
            with self.repo.db.tx() as c:
                self.repo.insert(c, rec)
        except BaseException:
            if top is not None:
                self.layers.release(top)
            raise
        log.info("stored image %s (%d layers)", image_id, len(image_config.diff_ids(doc)))
        return image_id, True

    def delete(self, rec: ImageRecord) -> list[str]:
        """Remove an image and drop its layer reference; returns the chain ids that were
        removed with it, top first, as `rmi` lists them."""
        chain = self.layers.chain(rec.top_chain_id) if rec.top_chain_id else []
        with self.repo.db.tx() as c:
            self.repo.delete(c, rec.id)
        if rec.top_chain_id:
            self.layers.release(rec.top_chain_id)
        crashpoint("rmi.after-layers")
        removed: list[str] = []
        for layer in reversed(chain):
            try:
                self.layers.get(layer.chain_id)
            except NotFound:
                removed.append(layer.chain_id)
        diff_ids = [layer.diff_id for layer in chain]
        self.refs.drop([rec.config_digest, *diff_ids], diff_ids)
        return removed

    def forget(self, digests: list[str]) -> None:
        """Drop blobs a failed or empty-layer creation left, unless an image uses them."""
        self.refs.drop(digests, digests)
