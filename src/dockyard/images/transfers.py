"""How images come in and go out (S6, S7, E3): import, commit, load, save, bootstrap, pull.

A collaborator of the image service (services/images.py `Images`): the catalog's lookups and
naming, the writer for storing. Every path validates names first, then
stores blobs and layers, then records the image, so a failure leaves no record and no references.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.types import Json
from dockyard.crashpoints import crashpoint
from dockyard.images import archive, bootstrap, compression, reference
from dockyard.images import config as image_config
from dockyard.images.catalog import ImageCatalog
from dockyard.images.content import ContentStore
from dockyard.images.writer import ImageWriter
from dockyard.state.images import ImageRecord
from dockyard.state.layerblobs import LayerBlobRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


class Transfers:
    def __init__(self, catalog: ImageCatalog, layers: LayerStore, writer: ImageWriter,
                 layer_blobs: LayerBlobRepo) -> None:  # fmt: skip
        self.catalog = catalog
        self.repo = catalog.repo
        self.content = catalog.content
        self.lock = catalog.lock
        self.layers = layers
        self.writer = writer
        self.layer_blobs = layer_blobs

    # ---- import -------------------------------------------------------------------------

    def import_tar(
        self, src: BinaryIO, repo: str | None, tag: str | None, changes: list[str], message: str
    ) -> str:
        """`POST /images/create?fromSrc=-`: one layer from a (maybe compressed) tar."""
        target = reference.parse_repo_tag(repo, tag) if repo else None
        msg = message or "Imported from -"
        cfg = image_config.apply_changes(image_config.empty_container_config(), changes)
        diff_id = self.writer.ingest_tar(compression.decompressed(src))
        try:
            self._check_tar(diff_id)
            created = timefmt.rfc3339nano()
            doc = image_config.new_image(
                parent=None,
                config=cfg,
                diff_id=diff_id,
                history=image_config.history_entry(created, comment=msg),
                created=created,
                comment=msg,
            )
            with self.lock:
                top = self.writer.register_chain([diff_id])
                image_id, _ = self.writer.store(image_config.canonical_bytes(doc), top, None)
        except BaseException:
            self.writer.forget([diff_id])
            raise
        if target is not None:  # dockerd's order: tag, then import
            self.catalog.tag(image_id, target)
        self.catalog.publish("import", image_id, image_id)
        return image_id

    def _check_tar(self, diff_id: str) -> None:
        try:
            with self.content.open(diff_id) as f, tarfile.open(fileobj=f, mode="r:") as tar:
                tar.next()
        except tarfile.TarError as e:
            raise errors.InvalidParameter(f"archive/tar: invalid tar header ({e})") from None

    # ---- commit -------------------------------------------------------------------------

    def create_from_layer(
        self,
        parent_image_id: str | None,
        layer_tar: BinaryIO | Iterable[bytes],
        *,
        container_config: Json | None = None,
        config_override: Json | None = None,
        changes: Iterable[str] = (),
        comment: str = "",
        author: str = "",
        container_id: str = "",
        repo: str | None = None,
        tag: str | None = None,
    ) -> str:
        """A child image of `parent_image_id` with `layer_tar` as one more layer (an empty tar
        adds a history entry only); returns the image id."""
        target = reference.parse_repo_tag(repo, tag) if repo else None
        parent = self.catalog.get(parent_image_id) if parent_image_id else None
        parent_doc = self.catalog.config(parent.id) if parent else None
        base = (
            container_config
            or (parent_doc or {}).get("config")
            or image_config.empty_container_config()
        )
        cfg = image_config.apply_changes(
            image_config.merge_commit_config(base, config_override), list(changes)
        )
        diff_id = self.writer.ingest_tar(layer_tar)
        crashpoint("commit.after-diff")
        empty = self.writer.is_empty_tar(diff_id)
        try:
            created = timefmt.rfc3339nano()
            cmd = (container_config or {}).get("Cmd") or []
            doc = image_config.new_image(
                parent=parent_doc,
                config=cfg,
                diff_id=None if empty else diff_id,
                history=image_config.history_entry(
                    created, " ".join(cmd), comment=comment, author=author, empty_layer=empty
                ),
                created=created,
                author=author,
                comment=comment,
                container=container_id,
                container_config=container_config,
            )
            with self.lock:
                base_top = parent.top_chain_id if parent else None
                top = self.writer.register_chain([] if empty else [diff_id], base=base_top)
                crashpoint("commit.after-layer")
                raw = image_config.canonical_bytes(doc)
                image_id, _ = self.writer.store(raw, top, parent.id if parent else None)
        finally:
            if empty:
                self.writer.forget([diff_id])
        if target is not None:
            self.catalog.tag(image_id, target)
        return image_id

    def commit(
        self,
        *,
        parent: str | None,
        layer_tar: BinaryIO | Iterable[bytes],
        container_config: Json,
        config_override: Json | None,
        changes: list[str],
        author: str,
        comment: str,
        container_id: str,
        repo: str | None,
        tag: str | None,
    ) -> str:
        """What the container service's commit calls (S6)."""
        return self.create_from_layer(
            parent,
            layer_tar,
            container_config=container_config,
            config_override=config_override,
            changes=changes,
            comment=comment,
            author=author,
            container_id=container_id,
            repo=repo,
            tag=tag,
        )

    # ---- save ---------------------------------------------------------------------------

    def save(self, refs: list[str]) -> Iterator[bytes]:
        """docker-archive + OCI layout in one tar; names resolve before the first byte is sent."""
        wanted: dict[str, list[str]] = {}
        for ref in refs:
            rec = self.catalog.resolve(ref)
            names = wanted.setdefault(rec.id, [])
            names.extend(n for n in self._save_names(ref, rec) if n not in names)
        images = [self._save_image(image_id, names) for image_id, names in wanted.items()]
        for image_id in wanted:
            self.catalog.publish("save", image_id, image_id)
        return archive.save_stream(images)

    def _save_names(self, ref: str, rec: ImageRecord) -> list[str]:
        if reference.is_id_prefix(ref) and rec.id.removeprefix("sha256:").startswith(
            ref.removeprefix("sha256:")
        ):
            return []
        named = reference.parse(ref)
        if named.tag is not None or named.digest is not None:
            return [str(named.with_default_tag())] if named.digest is None else []
        return [r for r in self.repo.references(rec.id) if r.startswith(named.name + ":")]

    def _save_image(self, image_id: str, names: list[str]) -> archive.SaveImage:
        rec = self.catalog.get(image_id)
        raw = self.content.get(rec.config_digest)
        diff_ids = image_config.diff_ids(image_config.parse(raw))
        chain = self.layers.chain(rec.top_chain_id) if rec.top_chain_id else []
        layers = []
        for i, diff_id in enumerate(diff_ids):
            if not self.content.exists(diff_id):
                self.recover_layer_blob(chain[i].chain_id, diff_id)
            layers.append((diff_id, self.content.size(diff_id), _opener(self.content, diff_id)))
        return archive.SaveImage(raw, rec.config_digest, layers, names)

    def recover_layer_blob(self, chain_id: str, diff_id: str) -> None:
        # A pulled layer is kept as the registry's compressed blob: its tar is that blob
        # decompressed (checked against the diff id), kept from now on.
        for blob in self.layer_blobs.of(diff_id):
            if self.content.exists(blob.digest):
                with self.content.open(blob.digest) as f:
                    self.content.ingest_file(compression.decompressed(f), expected=diff_id)
                return
        # Layers registered outside the image service have no kept tar: re-export and hope
        # the export reproduces the bytes (it does for tars our own export made).
        try:
            self.content.ingest(self.layers.layer_tar(chain_id), expected=diff_id)
        except errors.InvalidParameter:
            raise errors.System(
                f"cannot save layer {diff_id}: its original tar is not kept"
            ) from None

    # ---- load ---------------------------------------------------------------------------

    def load(self, src: BinaryIO) -> list[str]:
        """docker-archive or OCI layout; returns Docker's "Loaded image: ..." lines."""
        lines: list[str] = []
        with tempfile.TemporaryFile(dir=self.content.tmp) as spool:
            shutil.copyfileobj(src, spool, 1 << 20)
            spool.seek(0)
            try:
                tar = tarfile.open(fileobj=spool, mode="r:")  # noqa: SIM115 (closed below)
            except tarfile.TarError as e:
                raise errors.InvalidParameter(archive.tar_error(e)) from None
            with tar:
                for item in archive.read_images(tar):
                    lines.extend(self._load_one(tar, item))
        return lines

    def _load_one(self, tar: tarfile.TarFile, item: archive.ArchiveImage) -> list[str]:
        doc = image_config.parse(item.config)
        want = image_config.diff_ids(doc)
        targets = [reference.parse_tagged(t) for t in item.tags]
        if len(item.layers) != len(want):
            raise errors.InvalidParameter(
                f"invalid manifest, layers length mismatch: expected {len(want)}, got {len(item.layers)}"
            )
        ingested: list[str] = []
        try:
            for i, name in enumerate(item.layers):
                with archive.open_member(tar, name) as member:
                    got = self.writer.ingest_tar(compression.decompressed(member))  # type: ignore[arg-type]
                ingested.append(got)
                if got != want[i]:
                    raise errors.InvalidParameter(
                        f'invalid diffID for layer {i}: expected "{want[i]}", got "{got}"'
                    )
            with self.lock:
                top = self.writer.register_chain(want)
                image_id, _ = self.writer.store(item.config, top, None)
        except BaseException:
            self.writer.forget(ingested)
            raise
        self.catalog.publish("load", image_id, image_id)
        lines = []
        for target in targets:
            previous = self.catalog.tag(image_id, target, event=False)
            if previous is not None:
                lines.append(
                    f"The image {target.familiar()} already exists, renaming the old one with ID {previous} to empty string"
                )
            lines.append(f"Loaded image: {target.familiar()}")
        if not targets:
            lines.append(f"Loaded image ID: {image_id}")
        return lines

    # ---- pull, bootstrap ----------------------------------------------------------------

    def bootstrap_busybox(self) -> str:
        """busybox:latest from the host's static busybox; a no-op when already there (S7)."""
        bb = bootstrap.probe()
        with tempfile.TemporaryFile(dir=self.content.tmp) as layer:
            bootstrap.write_layer(bb, layer)  # type: ignore[arg-type]
            layer.seek(0)
            diff_id = self.writer.ingest_tar(layer)  # type: ignore[arg-type]
        raw = image_config.canonical_bytes(bootstrap.image_doc(bb, diff_id))
        image_id = image_config.image_id(raw)
        target = reference.parse_tagged(bootstrap.REFERENCE)
        if self.repo.lookup(str(target)) == image_id:
            return image_id
        with self.lock:
            if self.repo.get(image_id) is None:
                top = self.writer.register_chain([diff_id])
                self.writer.store(raw, top, None)
                self.catalog.publish("import", image_id, image_id)
        self.catalog.tag(image_id, target)
        log.info("bootstrapped busybox:latest %s from %s", image_id, bb.path)
        return image_id


def _opener(content: ContentStore, digest: str) -> Callable[[], BinaryIO]:
    return lambda: content.open(digest)
