"""Image removal (S6, E3): rmi's rules and prune. A collaborator of the image service
(services/images.py `Images`), with the catalog's lookups.

moby's rules, as the docker CLI shows them: removing by name untags first and deletes the image
only when its last name is gone and nothing needs it; removing by id refuses (409) when the image
is tagged in several repositories or used by a container, unless forced; nothing can force past
dependent child images or a running container. Untagged parents of a deleted image (a build's
intermediate images) go with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from dockyard import errors
from dockyard.core.filters import check_keys, labels_match
from dockyard.core.types import Filters, Json
from dockyard.images import reference, views
from dockyard.images.catalog import ImageCatalog
from dockyard.images.writer import ImageWriter
from dockyard.state.images import ImageRecord
from dockyard.storage.protocols import LayerStore

RUNNING_STATES = ("running", "paused", "restarting")
Records = list[Json]
Users = list[tuple[str, bool]]


class ImageUser(Protocol):
    """A container as rmi needs to see it (ContainerRecord fits)."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> Mapping[str, Any]: ...


class Removal:
    def __init__(
        self,
        catalog: ImageCatalog,
        layers: LayerStore,
        writer: ImageWriter,
        is_in_use: Callable[[str], bool],
        users_of: Callable[[str], Sequence[ImageUser]] | None,
    ) -> None:
        self.catalog = catalog
        self.repo = catalog.repo
        self.lock = catalog.lock
        self.layers = layers
        self.writer = writer
        self.is_in_use = is_in_use
        self.users_of = users_of

    def _users(self, image_id: str) -> Users:
        if self.users_of is not None:
            return [
                (u.id, u.state.get("Status") in RUNNING_STATES) for u in self.users_of(image_id)
            ]
        return [("", False)] if self.is_in_use(image_id) else []

    def _conflict(
        self, image_id: str, *, hard_only: bool, check_refs: bool
    ) -> errors.Conflict | None:
        short = reference.short_id(image_id)
        if self.repo.children(image_id):
            return errors.Conflict(
                f"conflict: unable to delete {short} (cannot be forced) - image has dependent child images"
            )
        users = self._users(image_id)
        running = [cid for cid, run in users if run]
        if running:
            return errors.Conflict(
                f"conflict: unable to delete {short} (cannot be forced) - image is being used by running container {reference.short_id(running[0])}"
            )
        if hard_only:
            return None
        if check_refs and self.repo.references(image_id):
            return errors.Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
            )
        if users:
            return errors.Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is being used by stopped container {reference.short_id(users[0][0])}"
            )
        return None

    def remove(self, ref: str, force: bool, noprune: bool) -> Records:
        with self.lock:
            return self._remove(ref, force, prune=not noprune)

    def _remove(self, ref: str, force: bool, prune: bool) -> Records:
        rec = self.catalog.resolve(ref)
        refs = self.repo.references(rec.id)
        records: Records = []
        # moby's isImageIDPrefix: a ref the image id starts with means "by id", even if hex.
        by_id = reference.is_id_prefix(ref) and rec.id.removeprefix("sha256:").startswith(
            ref.removeprefix("sha256:")
        )
        if not by_id:
            named = str(reference.parse(ref).with_default_tag())
            if not force and _single_reference(refs):
                users = self._users(rec.id)
                if users:
                    raise errors.Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force) - container {reference.short_id(users[0][0])} is using its referenced image {reference.short_id(rec.id)}'
                    )
            records.extend(self._untag([named], rec.id))
            if "@" not in named:
                # The repository's last tag gone: its digest references (RepoDigests) go too.
                repo = named.rsplit(":", 1)[0]
                left = self.repo.references(rec.id)
                if not any("@" not in r and r.rsplit(":", 1)[0] == repo for r in left):
                    records.extend(
                        self._untag([r for r in left if r.split("@")[0] == repo], rec.id)
                    )
            if self.repo.references(rec.id):
                return records
            # The last name is gone: delete the image unless something still needs it, quietly.
            if self._conflict(rec.id, hard_only=force, check_refs=False) is not None:
                return records
            return records + self._delete(rec, prune)
        if _single_reference(refs):
            conflict = self._conflict(rec.id, hard_only=force, check_refs=False)
            if conflict is not None:
                raise conflict
            records.extend(self._untag(refs, rec.id))
        conflict = self._conflict(rec.id, hard_only=force, check_refs=True)
        if conflict is not None:
            raise conflict
        records.extend(self._untag(self.repo.references(rec.id), rec.id))
        return records + self._delete(rec, prune)

    def _untag(self, refs: Iterable[str], image_id: str) -> Records:
        out: Records = []
        digests = []
        for r in refs:
            with self.repo.db.tx() as c:
                self.repo.untag(c, r)
            out.append({"Untagged": reference.familiar(r)})
            self.catalog.publish("untag", image_id, image_id)
            if "@" in r:
                digests.append(r.rpartition("@")[2])
        if digests:  # the pulled manifests those names kept, unless another name keeps them
            content_refs = self.writer.refs
            content_refs.drop(content_refs.manifests(digests))
        return out

    def _delete(self, rec: ImageRecord, prune_parents: bool = False) -> Records:
        self.catalog.publish("delete", rec.id, rec.id)
        removed = self.writer.delete(rec)
        out: Records = [{"Deleted": rec.id}, *({"Deleted": chain_id} for chain_id in removed)]
        parent = self.repo.get(rec.parent) if prune_parents and rec.parent else None
        # As Docker: untagged parents (a build's intermediate images) go with their last child,
        # quietly stopping at the first one that is tagged, has other children or is in use.
        if parent and not (
            self.repo.references(parent.id)
            or self.repo.children(parent.id)
            or self._users(parent.id)
        ):
            out += self._delete(parent, prune_parents=True)
        return out

    def untag(self, refs: list[str], image_id: str) -> None:
        with self.lock:
            self._untag(refs, image_id)

    def users(self, image_id: str) -> list[str]:
        """The containers made from the image."""
        return [cid for cid, _ in self._users(image_id)]

    def remove_damaged(self, image_ids: Iterable[str]) -> set[str]:
        """`system check --repair`: these images go with all their names, each after its
        children; one with a container or a child that is not going stays. Returns those
        removed."""
        removed: set[str] = set()
        with self.lock:
            left = {rec.id: rec for i in image_ids if (rec := self.repo.get(i)) is not None}
            while left:
                ready = [i for i in sorted(left) if not self._users(i)
                         and not self.repo.children(i)]  # fmt: skip
                if not ready:
                    break
                for image_id in ready:
                    rec = left.pop(image_id)
                    self._untag(self.repo.references(image_id), image_id)
                    try:
                        self._delete(rec)
                    except errors.NotFound:  # its chain is broken past a record: it stays
                        continue
                    removed.add(image_id)
        return removed

    def prune(self, filters: Filters) -> Json:
        check_keys(filters, ("dangling", "label", "until"))
        dangling_only = views.dangling_wanted(filters) is not False
        in_time = views.time_filter({"until": filters.get("until") or []}, lambda r: 0.0)
        deleted: Records = []
        reclaimed = 0
        with self.lock:
            for rec in self.repo.all():
                if self.repo.references(rec.id) and dangling_only:
                    continue
                if not in_time(rec.created_unix):
                    continue
                labels = (self.catalog.config(rec.id).get("config") or {}).get("Labels") or {}
                if not labels_match(labels, filters.get("label") or []):
                    continue
                if self._users(rec.id) or self.repo.children(rec.id):
                    continue
                sizes = self._layer_sizes(rec)
                untagged = self._untag(self.repo.references(rec.id), rec.id)
                removed = self._delete(rec)
                reclaimed += sum(sizes.get(d["Deleted"], 0) for d in removed)
                deleted.extend(untagged + removed)
            # Layers a killed pull finished and no image took (kept for a retry to reuse), and
            # the compressed blobs they were pulled as.
            pruned = self.layers.prune_dangling()
            self.writer.refs.drop([], [layer.diff_id for layer in pruned])
            reclaimed += sum(layer.size for layer in pruned)
        self.catalog.events.publish("image", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _layer_sizes(self, rec: ImageRecord) -> dict[str, int]:
        if not rec.top_chain_id:
            return {}
        return {layer.chain_id: layer.size for layer in self.layers.chain(rec.top_chain_id)}


def _single_reference(refs: list[str]) -> bool:
    """moby's isSingleReference: at most one tag, and every digest reference in its repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if "@" not in r]
    if len(tags) > 1:
        return False
    repo = (tags[0] if tags else refs[0]).split("@")[0].rsplit(":", 1)[0]
    return all(r.split("@")[0].rsplit(":", 1)[0] == repo for r in refs)
