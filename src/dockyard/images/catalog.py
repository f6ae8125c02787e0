"""The image catalog (S1, S6, E3, E5): what every image collaborator shares. The stored images
and their names (`ImageRepo`), the content store holding configs and manifests, the lock that
orders writers, and the lookups and naming every path needs: resolve a reference as Docker does,
read a config, point a name at an image, publish an image event. Built once by the image service
(services/images.py) and handed to transfers, removal, pulls and pushes."""

from __future__ import annotations

import threading
import time

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.events import EventBus
from dockyard.core.types import Json
from dockyard.images import config as image_config
from dockyard.images import reference
from dockyard.images.content import ContentStore
from dockyard.state.images import ImageRecord, ImageRepo


class ImageCatalog:
    def __init__(self, repo: ImageRepo, content: ContentStore, events: EventBus) -> None:
        self.repo = repo
        self.content = content
        self.events = events
        self.lock = threading.RLock()  # writers of records and names

    # ---- lookups ------------------------------------------------------------------------

    def resolve(self, ref: str) -> ImageRecord:
        """By name[:tag], name@digest, full id, or id prefix; NotFound `No such image: <ref>`."""
        found = self.find(ref)
        if found is None:
            raise errors.no_such_image(reference.missing_image_name(ref))
        return found

    def find(self, ref: str) -> ImageRecord | None:
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
        return image_config.parse(self.raw_config(image_id))

    def raw_config(self, image_id: str) -> bytes:
        return self.content.get(self.get(image_id).config_digest)

    def top_layer(self, image_id: str) -> str | None:
        return self.get(image_id).top_chain_id

    def references_for(self, image_id: str) -> list[str]:
        """Familiar tags and digests of an image: ["busybox:latest"]."""
        return [reference.familiar(r) for r in self.repo.references(image_id)]

    # ---- naming and events --------------------------------------------------------------

    def tag(self, image_id: str, target: reference.Reference, event: bool = True) -> str | None:
        """Point `target` at the image; returns the image it pointed at before, if another.
        `event=False`: no `tag` event (`load` names its images silently, as dockerd)."""
        now = time.time_ns()
        with self.lock, self.repo.db.tx() as c:
            previous = self.repo.tag(c, str(target), image_id, now)
            self.repo.set_last_tag_time(c, image_id, timefmt.rfc3339nano(now))
        if event:
            self.publish("tag", image_id, target.familiar())
        return previous

    def add_repo_digest(self, image_id: str, ref: reference.Reference, digest: str) -> bool:
        """`name@<manifest digest>` for RepoDigests (after a pull or a push); True if new."""
        digested = reference.Reference(ref.domain, ref.path, None, digest)
        if self.repo.lookup(str(digested)) == image_id:
            return False
        self.tag(image_id, digested, event=False)  # dockerd: a digest reference, no `tag`
        return True

    def publish(self, action: str, image_id: str, name: str, actor: str | None = None) -> None:
        """An image event; `actor` for Actor.ID when it is not the image's id (pull and push
        name the reference, as dockerd)."""
        attrs = {"name": name}
        if action != "delete":  # dockerd: a deleted image's event carries its name only
            try:
                labels = (self.config(image_id).get("config") or {}).get("Labels") or {}
                attrs.update({k: v for k, v in labels.items() if k != "name"})
            except (errors.NotFound, errors.InvalidParameter):  # gone, or damaged (system check)
                pass
        self.events.publish("image", action, actor or image_id, attrs)
