"""`system check [--repair [--force]]` (R1, #17; as `podman system check`): the one face
composing the checkers of each store, run while no pull, push, build, commit, load or import is
under way (the image service's activity gate, D-crash-1) so that nothing in flight reads as
damage:
    storage/check.py                  layer references, chains, directories
    images/check.py                   blobs against digests, image -> layer links, unnamed
                                      blobs, temp files; which images the damage reaches
    services/containers/consistency   writable layers, mounts, record vs runc vs freezer
Repairs: the stores' own start-up steps for leftovers and counts; a corrupt compressed layer
blob (kept only to push or save it again) and a corrupt pulled manifest are forgotten; a damaged
image is removed with its names, as podman does, unless a container uses it: `force` removes
those containers first (podman's --force), otherwise they are reported and the image stays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dockyard.core.findings import Finding, report
from dockyard.core.types import Json
from dockyard.errors import NotFound
from dockyard.images import check as image_check
from dockyard.services.images import Images
from dockyard.storage import check as layer_check
from dockyard.storage.layers import Layers

log = logging.getLogger(__name__)

QUIET_WAIT = 30.0  # seconds to wait for running transfers before answering 409
CONTAINER = "container"


class SystemCheck:
    def __init__(
        self,
        images: Images,
        layers: Layers,
        containers: Callable[[bool], list[Finding]],
        remove_container: Callable[[str], Awaitable[None]],
    ) -> None:
        self.images = images
        self.layers = layers
        self.containers = containers
        self.remove_container = remove_container  # rm -f, for `force`

    def _layer_exists(self, chain_id: str) -> bool:
        try:
            self.layers.get(chain_id)
        except NotFound:
            return False
        return True

    async def check(self, repair: bool, quick: bool, force: bool) -> Json:
        if repair and force:
            for cid in await asyncio.to_thread(self._users_of_damaged, quick):
                await self.remove_container(cid)
        return await asyncio.to_thread(self.run, repair, quick)

    def _users_of_damaged(self, quick: bool) -> list[str]:
        with self.images.activity.exclusive(QUIET_WAIT):
            damaged = self._damaged(self._look(False, quick))
        users = {cid: None for i in damaged for cid in self.images.removal.users(i)}
        return list(users)

    def _look(self, repair: bool, quick: bool) -> list[Finding]:
        records = self.images.repo.all()
        tops = [r.top_chain_id for r in records if r.top_chain_id]
        found = image_check.image_findings(records, self.images.content.get, self._layer_exists)
        found += layer_check.check_layers(self.layers, tops, repair)
        diff_ids = {layer.diff_id for layer in self.layers.layers()}
        found += image_check.check_content(
            self.images.content, self.images.writer.refs, diff_ids, quick, repair
        )
        return found + self.containers(repair)

    def _damaged(self, found: list[Finding]) -> dict[str, str]:
        return image_check.damaged_images(self.images.repo.all(), self.images.content.get, found)

    def run(self, repair: bool, quick: bool) -> Json:
        with self.images.activity.exclusive(QUIET_WAIT):
            found = self._look(repair, quick)
            found += self._damage(found, repair)
        for f in found:
            log.warning(
                "system check: %s %s: %s%s", f.kind, f.target, f.problem,
                " (repaired)" if f.repaired else "",
            )  # fmt: skip
        return report(found)

    def _damage(self, found: list[Finding], repair: bool) -> list[Finding]:
        """Damaged images and the corrupt blobs no image needs: reported, and with `repair`
        removed or forgotten. Returns the findings about the containers that keep an image."""
        damaged = self._damaged(found)
        removal = self.images.removal
        users = {image_id: removal.users(image_id) for image_id in damaged}
        out = [
            Finding(
                CONTAINER,
                cid,
                f"uses damaged image {image_id} ({why}); --repair --force removes both",
            )  # fmt: skip
            for image_id, why in damaged.items()
            for cid in users[image_id]
        ]
        removed = removal.remove_damaged(damaged) if repair else set()
        corrupt = [f for f in found if f.kind == image_check.BLOB
                   and f.problem == image_check.CORRUPT and not f.repaired]  # fmt: skip
        content = self.images.content
        if repair:
            self._forget_corrupt([f.target for f in corrupt if content.exists(f.target)])
        for f in found:
            if f.repaired:
                continue
            if f.kind == image_check.IMAGE:
                f.repairable = not users.get(f.target)
                f.repaired = f.target in removed
            elif f.kind == layer_check.LAYER and not f.repairable:
                f.repairable = True
                f.repaired = repair and not self._layer_exists(f.target)
            elif f in corrupt:
                f.repairable = True
                f.repaired = repair and not content.exists(f.target)
        return out

    def _forget_corrupt(self, digests: list[str]) -> None:
        """A corrupt blob left after the damaged images went: a compressed layer blob (its
        rows go; a push compresses the layer again, a save exports it) or a pulled manifest
        (the digest references naming it go, the image keeps its tags)."""
        if not digests:
            return
        removal, refs, doomed = self.images.removal, self.images.writer.refs, set(digests)
        for image_id, names in self.images.repo.all_references().items():
            bad = [n for n in names
                   if "@" in n and doomed & refs.manifests([n.rpartition("@")[2]])]  # fmt: skip
            if bad:
                removal.untag(bad, image_id)
        for digest in digests:
            self.images.layer_blobs.forget_blob(digest)
        refs.drop(digests)
