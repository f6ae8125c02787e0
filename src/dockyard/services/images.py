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
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.events import EventBus
from dockyard.core.filters import labels_match
from dockyard.core.types import Filters, Json
from dockyard.distribution.auth import Credentials, TokenCache
from dockyard.distribution.endpoints import RegistryOptions
from dockyard.images import config as image_config
from dockyard.images import reference, views
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


class Images(Transfers, Removal):
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
        self.repo = ImageRepo(db)
        self.content = content
        self.layers = layers
        self.events = events
        self.is_in_use = is_in_use
        self.users_of = users_of
        self.layer_blobs = LayerBlobRepo(db)
        self.writer = ImageWriter(self.repo, content, layers, self.layer_blobs)
        self.lock = threading.RLock()
        registry = registry or RegistryOptions()
        tokens = TokenCache()  # one per daemon: pulls and pushes reuse each other's tokens
        self.pulls = Pulls(self, self.layer_blobs, registry, tokens)
        self.pushes = Pushes(self, self.layer_blobs, registry, tokens)

    def sweep_content(self) -> None:
        """At daemon start: the blobs a killed daemon left that nothing names go (D-registry-5)."""
        self.writer.refs.sweep({layer.diff_id for layer in self.layers.layers()})

    def pull(self, ref: str, tag: str | None, platform: str = "") -> None:
        """A whole pull with no client watching (build's FROM)."""
        self.pulls.pull(ref, tag, platform)

    def _add_repo_digest(self, image_id: str, ref: reference.Reference, digest: str) -> bool:
        """`name@<manifest digest>` for RepoDigests (after a pull or a push); True if new."""
        digested = reference.Reference(ref.domain, ref.path, None, digest)
        if self.repo.lookup(str(digested)) == image_id:
            return False
        self._tag(image_id, digested)
        return True

    def pull_stream(
        self, name: str, tag: str | None, platform: str, creds: Credentials
    ) -> Iterator[bytes]:
        return self.pulls.start(name, tag, platform, creds)

    def push_stream(self, name: str, tag: str | None, creds: Credentials) -> Iterator[bytes]:
        return self.pushes.start(name, tag, creds)

    def login(self, server: str, creds: Credentials) -> str:
        return self.pushes.login(server, creds)

    # ---- lookups ------------------------------------------------------------------------

    def resolve(self, ref: str) -> ImageRecord:
        """By name[:tag], name@digest, full id, or id prefix; NotFound `No such image: <ref>`."""
        found = self._find(ref)
        if found is None:
            raise errors.no_such_image(reference.missing_image_name(ref))
        return found

    def _find(self, ref: str) -> ImageRecord | None:
        if not ref:
            return None
        bare = ref.removeprefix("sha256:")
        if reference.is_full_id(ref):
            return self.repo.get("sha256:" + bare)
        if not (ref.startswith("sha256:") and reference.is_id_prefix(ref)):
            try:
                named = reference.parse(ref).with_default_tag()
            except errors.InvalidParameter:
                named = None
            if named is not None:
                image_id = self.repo.lookup(str(named))
                if image_id is not None:
                    return self.repo.get(image_id)
        if reference.is_id_prefix(ref):
            matches = self.repo.by_prefix(bare)
            if len(matches) > 1:
                raise errors.InvalidParameter(f"ambiguous image reference: {ref}")
            if matches:
                return matches[0]
        if not reference.is_id_prefix(ref) and not reference.is_full_id(ref):
            reference.parse(ref)  # an invalid name is a 400, not a 404
        return None

    def get(self, image_id: str) -> ImageRecord:
        rec = self.repo.get(image_id)
        if rec is None:
            raise errors.no_such_image(image_id)
        return rec

    def config(self, image_id: str) -> Json:
        """The whole image config document (`config`, `rootfs`, `history`, ...)."""
        return image_config.parse(self.content.get(self.get(image_id).config_digest))

    def raw_config(self, image_id: str) -> bytes:
        return self.content.get(self.get(image_id).config_digest)

    def top_layer(self, image_id: str) -> str | None:
        return self.get(image_id).top_chain_id

    def references_for(self, image_id: str) -> Names:
        """Familiar tags and digests of an image: ["busybox:latest"]."""
        return [reference.familiar(r) for r in self.repo.references(image_id)]

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
                ids[last] = (cur.id, self.references_for(cur.id))
            cur = self.repo.get(cur.parent) if cur.parent else None
        return views.history(doc, sizes, ids)

    # ---- ImageService: naming -----------------------------------------------------------

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        rec = self.resolve(ref)
        target = reference.parse_repo_tag(repo, tag)
        self._tag(rec.id, target)

    def _tag(self, image_id: str, target: reference.Reference) -> str | None:
        """Point `target` at the image; returns the image it pointed at before, if another."""
        now = time.time_ns()
        with self.lock, self.repo.db.tx() as c:
            previous = self.repo.tag(c, str(target), image_id, now)
            self.repo.set_last_tag_time(c, image_id, timefmt.rfc3339nano(now))
        self._publish("tag", image_id, target.familiar())
        return previous

    def _publish(self, action: str, image_id: str, name: str) -> None:
        attrs = {"name": name}
        try:
            labels = (self.config(image_id).get("config") or {}).get("Labels") or {}
            attrs.update({k: v for k, v in labels.items() if k != "name"})
        except errors.NotFound:
            pass  # a deleted image's event carries its name only
        self.events.publish("image", action, image_id, attrs)
