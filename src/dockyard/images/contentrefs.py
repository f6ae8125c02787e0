"""What keeps a blob in the content store (E3, E5), and the removal of the rest.

A blob stays while something names it: an image's config and the layer tars its config lists
(D7), a compressed layer blob with a `layer_blobs` row (D-registry-2), a pulled manifest or index
that a digest reference names (`name@sha256:...`, RepoDigests) and the manifests such an index
lists. Names go first, files after (D-registry-5): a daemon killed in between leaves files
nothing names, never a name without its file, and `sweep()` at the next start removes them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from dockyard.images import config as image_config
from dockyard.images.content import ContentStore
from dockyard.state.images import ImageRepo
from dockyard.state.layerblobs import LayerBlobRepo

log = logging.getLogger(__name__)


class ContentRefs:
    def __init__(self, repo: ImageRepo, content: ContentStore, blobs: LayerBlobRepo | None) -> None:
        self.repo = repo
        self.content = content
        self.blobs = blobs

    def manifests(self, digests: Iterable[str] | None = None) -> set[str]:
        """`digests` (by default those the digest references name) and the manifests that the
        indexes among them list."""
        if digests is None:
            named = self.repo.all_references().values()
            digests = {r.rpartition("@")[2] for refs in named for r in refs if "@" in r}
        out = set(digests)
        for digest in list(out):
            try:
                out.update(_listed(self.content.get(digest)))
            except Exception:  # absent: it lists nothing
                continue
        return out

    def _by_images(self) -> tuple[set[str], bool]:
        """The images' configs and layer tars; False when a config could not be read."""
        held: set[str] = set()
        complete = True
        for rec in self.repo.all():
            held.add(rec.config_digest)
            try:
                doc = image_config.parse(self.content.get(rec.config_digest))
            except Exception:  # a broken config must not block removing another image
                log.warning("unreadable config of image %s", rec.id)
                complete = False
                continue
            held.update(image_config.diff_ids(doc))
        return held, complete

    def _held(self, by_images: set[str]) -> set[str]:
        rows = self.blobs.digests() if self.blobs is not None else set()
        return by_images | self.manifests() | rows

    def drop(self, digests: Iterable[str], layers: Iterable[str] = ()) -> None:
        """Delete these blobs unless something still names them; first the `layer_blobs` rows
        of the layers (diff IDs) `layers` that no image uses any more go, and with them the
        compressed blobs no other row names."""
        by_images, _ = self._by_images()
        doomed = set(digests)
        if self.blobs is not None:
            doomed.update(self.blobs.forget(sorted(set(layers) - by_images)))
        for digest in sorted(doomed - self._held(by_images)):
            self.content.delete(digest)

    def sweep(self, layers: set[str]) -> list[str]:
        """At daemon start, when nothing is being pulled, loaded or built: the rows of layers
        that are gone (`layers`: the diff IDs of those that exist) and every blob nothing names
        go. Nothing goes while an image's config is unreadable (its layer tars are unknown)."""
        doomed = self.unreferenced(layers, forget=True)
        for digest in doomed:
            self.content.delete(digest)
        if doomed:
            log.info("removed %d blobs nothing names from the content store", len(doomed))
        return doomed

    def unreferenced(self, layers: set[str], forget: bool = False) -> list[str]:
        """The blobs nothing names (sweep() removes them; `system check` reports them). With
        `forget`, the `layer_blobs` rows of layers that are gone are dropped first; either way
        they name nothing. None while an image's config is unreadable."""
        by_images, complete = self._by_images()
        if not complete:
            log.warning("content store not swept: an image's config is unreadable")
            return []
        if self.blobs is not None and forget:
            self.blobs.forget(sorted(self.blobs.diff_ids() - layers))
        rows = self.blobs.digests(within=layers) if self.blobs is not None else set()
        held = by_images | self.manifests() | rows
        return sorted(d for d in self.content.digests() if d not in held)


def _listed(blob: bytes) -> list[str]:
    """The manifests an index (OCI index, Docker manifest list) lists; none for anything else.
    Read here, not by distribution/manifests.py: the content store sits below the registry
    client (D-arch-1)."""
    try:
        doc = json.loads(blob)
    except ValueError:
        return []
    entries = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        e["digest"] for e in entries if isinstance(e, dict) and isinstance(e.get("digest"), str)
    ]
