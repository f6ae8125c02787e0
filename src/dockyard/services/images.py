"""The image service (S1, S6, S7, E3): `ImageService` for the API handlers, plus what the container
service needs (resolve, config, top_layer, commit).

Lifecycle of an image: created by import/commit/load/bootstrap (layers registered, config blob and
record stored, one layer reference held on its top layer), named by tags, untagged and deleted by
rmi/prune (the reference is released; layers no one else uses go with it). Containers using an
image are found through the callables given to the constructor, never by importing the container
service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

from dockyard.core.activity import Activity
from dockyard.core.events import EventBus
from dockyard.core.filters import labels_match
from dockyard.core.types import Filters, Json
from dockyard.distribution.auth import Credentials, TokenCache
from dockyard.distribution.endpoints import RegistryOptions
from dockyard.images import config as image_config
from dockyard.images import reference, views
from dockyard.images.catalog import ImageCatalog
from dockyard.images.content import ContentStore
from dockyard.images.transfers import Transfers
from dockyard.images.writer import ImageWriter
from dockyard.services.imageremoval import ImageUser, Removal
from dockyard.services.pulls import Pulls
from dockyard.services.pushes import Pushes
from dockyard.state.db import Database
from dockyard.state.images import ImageRecord, ImageRepo
from dockyard.state.layerblobs import LayerBlobRepo
from dockyard.storage.protocols import LayerStore

log = logging.getLogger(__name__)


# Aliases: the `list` method shadows the builtin inside the class body.
Records = list[Json]
Names = list[str]


class Images:
    """The image service's one face: lookups and naming on the catalog (images/catalog.py),
    import/commit/save/load/bootstrap on transfers, rmi/prune on removal, registries on pulls
    and pushes; each built with what it uses."""

    def __init__(
        self,
        db: Database,
        content: ContentStore,
        layers: LayerStore,
        events: EventBus,
        is_in_use: Callable[[str], bool],
        users_of: Callable[[str], Sequence[ImageUser]] | None = None,
        registry: RegistryOptions | None = None,
    ) -> None:
        self.catalog = catalog = ImageCatalog(ImageRepo(db), content, events)
        self.repo = catalog.repo
        self.lock = catalog.lock  # held by writers of records and names (a build's commit too)
        self.content = content
        self.layers = layers
        self.activity = Activity()  # what `system check` waits for (core/activity.py)
        self.layer_blobs = LayerBlobRepo(db)
        self.writer = ImageWriter(self.repo, content, layers, self.layer_blobs)
        self.transfers = Transfers(catalog, layers, self.writer, self.layer_blobs)
        self.removal = Removal(catalog, layers, self.writer, is_in_use, users_of)
        registry = registry or RegistryOptions()
        tokens = TokenCache()  # one per daemon: pulls and pushes reuse each other's tokens
        self.pulls = Pulls(catalog, layers, self.writer, self.layer_blobs, registry, tokens)
        self.pushes = Pushes(catalog, layers, self.transfers.recover_layer_blob,
                             self.layer_blobs, registry, tokens)  # fmt: skip

    def reload_registry(self, options: RegistryOptions) -> None:
        """New registry settings (a daemon reload): the next pull or push uses them."""
        self.pulls.options = options
        self.pushes.options = options

    def sweep_content(self) -> None:
        """At daemon start: the blobs a killed daemon left that nothing names go (D-registry-5)."""
        self.writer.refs.sweep({layer.diff_id for layer in self.layers.layers()})

    # ---- lookups (the catalog's) ---------------------------------------------------------

    def resolve(self, ref: str) -> ImageRecord:
        return self.catalog.resolve(ref)

    def get(self, image_id: str) -> ImageRecord:
        return self.catalog.get(image_id)

    def config(self, image_id: str) -> Json:
        return self.catalog.config(image_id)

    def raw_config(self, image_id: str) -> bytes:
        return self.catalog.raw_config(image_id)

    def top_layer(self, image_id: str) -> str | None:
        return self.catalog.top_layer(image_id)

    def tag_as(self, image_id: str, target: reference.Reference) -> str | None:
        """Point `target` at the image (a build's `-t`); the image it pointed at before."""
        return self.catalog.tag(image_id, target)

    # ---- transfers, removal, registries ---------------------------------------------------

    def import_tar(self, src: BinaryIO, repo: str | None, tag: str | None,
                   changes: Names, message: str) -> str:  # fmt: skip
        with self.activity.shared():
            return self.transfers.import_tar(src, repo, tag, changes, message)

    def commit(
        self,
        *,
        parent: str | None,
        layer_tar: BinaryIO | Iterable[bytes],
        container_config: Json,
        config_override: Json | None,
        changes: Names,
        author: str,
        comment: str,
        container_id: str,
        repo: str | None,
        tag: str | None,
    ) -> str:
        with self.activity.shared():
            return self.transfers.commit(
                parent=parent, layer_tar=layer_tar, container_config=container_config,
                config_override=config_override, changes=changes, author=author, comment=comment,
                container_id=container_id, repo=repo, tag=tag,
            )  # fmt: skip

    def save(self, refs: Names) -> Iterator[bytes]:
        return self.transfers.save(refs)

    def load(self, src: BinaryIO) -> Names:
        with self.activity.shared():
            return self.transfers.load(src)

    def bootstrap_busybox(self) -> str:
        with self.activity.shared():
            return self.transfers.bootstrap_busybox()

    def remove(self, ref: str, force: bool, noprune: bool) -> Records:
        with self.activity.shared():  # a check's recount must not see half an rmi
            return self.removal.remove(ref, force, noprune)

    def prune(self, filters: Filters) -> Json:
        with self.activity.shared():
            return self.removal.prune(filters)

    def pull(self, ref: str, tag: str | None, platform: str = "") -> None:
        """A whole pull with no client watching; its first error is raised."""
        with self.activity.shared():
            self.pulls.pull(ref, tag, platform)

    def pull_progress(self, ref: str, tag: str | None) -> Iterator[bytes]:
        """An anonymous pull's progress stream (build's FROM shows it in the build's stream)."""
        return self.activity.holding(self.pulls.start(ref, tag))

    def pull_stream(
        self, name: str, tag: str | None, platform: str, creds: Credentials
    ) -> Iterator[bytes]:
        return self.activity.holding(self.pulls.start(name, tag, platform, creds))

    def push_stream(self, name: str, tag: str | None, creds: Credentials) -> Iterator[bytes]:
        return self.activity.holding(self.pushes.start(name, tag, creds))

    def login(self, server: str, creds: Credentials) -> str:
        return self.pushes.login(server, creds)

    # ---- ImageService: queries ----------------------------------------------------------

    def list(self, all: bool, filters: Filters, digests: bool) -> Records:
        views.validate_filters(filters)
        dangling = views.dangling_wanted(filters)
        patterns = filters.get("reference") or []
        in_time = views.time_filter(filters, lambda r: self.resolve(r).created_unix)
        refs_by_image = self.repo.all_references()
        out: Records = []
        for rec in self.repo.all():
            refs = refs_by_image.get(rec.id, [])
            if patterns:
                refs = [r for r in refs if views.reference_matches(patterns, r)]
                if not refs:
                    continue
            is_dangling = not refs_by_image.get(rec.id)
            if is_dangling and not all and self.repo.children(rec.id):
                continue  # an intermediate image
            if dangling is not None and dangling != is_dangling:
                continue
            if not in_time(rec.created_unix):
                continue
            doc = self.config(rec.id)
            labels = (doc.get("config") or {}).get("Labels") or {}
            if not labels_match(labels, filters.get("label") or []):
                continue
            out.append(views.summary(rec, doc, refs))
        return out

    def inspect(self, ref: str) -> Json:
        rec = self.resolve(ref)
        doc = self.config(rec.id)
        graph: Json = (
            dict(self.layers.graph_driver(rec.top_chain_id))
            if rec.top_chain_id
            else {"Name": "overlay2", "Data": None}
        )
        return views.inspect(rec, doc, self.repo.references(rec.id), graph)

    def history(self, ref: str) -> Records:
        rec = self.resolve(ref)
        doc = self.config(rec.id)
        chain = self.layers.chain(rec.top_chain_id) if rec.top_chain_id else []
        sizes = {layer.diff_id: layer.size for layer in chain}
        ids: dict[int, tuple[str, Names]] = {}
        cur: ImageRecord | None = rec
        while cur is not None:
            cur_doc = doc if cur is rec else self.config(cur.id)
            last = len(image_config.history_with_layers(cur_doc)) - 1
            if last >= 0 and last not in ids:
                ids[last] = (cur.id, self.catalog.references_for(cur.id))
            cur = self.repo.get(cur.parent) if cur.parent else None
        return views.history(doc, sizes, ids)

    # ---- ImageService: naming -----------------------------------------------------------

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        rec = self.resolve(ref)
        self.catalog.tag(rec.id, reference.parse_repo_tag(repo, tag))
