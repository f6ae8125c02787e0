"""The layer store (LayerStore in storage/protocols.py): content-addressed read-only layers and
the container layer pairs on top of them, metadata in SQLite, files in the overlay2 driver.

Crash safety: files are made before their row is written and removed after it is deleted, so a
row always names a complete directory. reconcile(), called once at daemon start, removes the
directories (and l/ links) no row names: half-applied tars, half-created or half-removed layers.

References (`refs`): a register()/retain() caller holds one, each child layer holds one on its
parent, each container layer pair holds one on its image layer. An image keeps one reference on
its top layer: after registering a child, drop your own reference on the parent with release().
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from dockyard.core.layers import Change, Layer, RWLayer
from dockyard.crashpoints import crashpoint
from dockyard.errors import Conflict, NotFound
from dockyard.rollback import Rollback
from dockyard.state.db import Cursor, Database
from dockyard.state.layers import LayerRepo
from dockyard.storage import initlayer, layerindex, usage
from dockyard.storage.overlay2 import Overlay2

log = logging.getLogger(__name__)


class HashingReader:
    """A read-only stream that hashes what passes through it: one pass computes the diff ID
    while the tar is being applied."""

    def __init__(self, inner: BinaryIO, hashing: bool = True) -> None:
        self._inner = inner
        self._sha = hashlib.sha256() if hashing else None

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if self._sha is not None:
            self._sha.update(data)
        return data

    def drain(self) -> None:
        # tarfile stops at the end-of-archive blocks; the padding after them is part of the
        # tar as received and of its digest.
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        assert self._sha is not None
        return "sha256:" + self._sha.hexdigest()


def chain_id_of(parent: str | None, diff_id: str) -> str:
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


class Layers:
    """LayerStore on Overlay2 + SQLite. Thread-safe; every method blocks (run it off the loop)."""

    def __init__(self, db: Database, driver: Overlay2) -> None:
        self._db = db
        self._repo = LayerRepo(db)
        self.driver = driver
        self._lock = threading.RLock()
        # GraphDriver of each container layer: fixed for the layer's life, asked by every inspect
        self._graph: dict[str, dict[str, object]] = {}
        self._indexes = layerindex.LayerIndexes()
        # directories made but not yet recorded, or being removed: check() skips them
        self._busy: set[str] = set()

    # read-only layers -----------------------------------------------------------------------

    def get(self, chain_id: str) -> Layer:
        layer = self._repo.get(chain_id)
        if layer is None:
            raise NotFound(f"layer does not exist: {chain_id}")
        return layer

    def chain(self, chain_id: str) -> list[Layer]:
        out: list[Layer] = []
        cur: str | None = chain_id
        while cur is not None:
            layer = self.get(cur)
            out.append(layer)
            cur = layer.parent
        out.reverse()
        return out

    def diff_dirs(self, chain_id: str) -> list[Path]:
        """The chain's diff/ directories, top first: a read-only view's lower dirs."""
        return [self.driver.diff_dir(layer.cache_id) for layer in reversed(self.chain(chain_id))]

    def layers(self) -> list[Layer]:
        return self._repo.all()

    def chain_size(self, chain_id: str) -> int:
        """What `docker image ls` shows: the sum of the chain's stored layer sizes."""
        return sum(layer.size for layer in self.chain(chain_id))

    def refs(self, chain_id: str) -> int:
        return self._repo.refs(chain_id)

    def register(
        self, tar: BinaryIO, parent: str | None, digest: Callable[[], str] | None = None
    ) -> Layer:
        with self._lock:
            parent_cache = self.get(parent).cache_id if parent is not None else None
            if parent is not None:
                self.retain(parent)  # held by the new child, or dropped below
        cache_id = secrets.token_hex(32)
        found: tuple[Layer, int] | None = None
        self._busy.add(cache_id)
        try:
            with Rollback() as rb:
                self.driver.create(cache_id, parent_cache)
                rb.push(self.driver.remove, cache_id)
                reader = HashingReader(tar, hashing=digest is None)
                size = self.driver.apply_diff(cache_id, cast(BinaryIO, reader))
                crashpoint("layer.after-extract")  # a directory no row names yet
                reader.drain()
                self._write_index(cache_id)
                diff_id = digest() if digest is not None else reader.digest()
                chain_id = chain_id_of(parent, diff_id)
                layer = Layer(chain_id, diff_id, parent, cache_id, size)
                with self._lock, self._db.tx() as c:
                    found = self._repo.get_in(c, chain_id)
                    if found is None:
                        self._repo.insert(c, layer, 1)
                    else:
                        self._repo.add_refs(c, chain_id, 1)
                rb.commit()
        except BaseException:
            self._busy.discard(cache_id)
            if parent is not None:
                self.release(parent)
            raise
        if found is None:
            self._busy.discard(cache_id)
            log.debug("registered layer %s (%s, %d bytes)", chain_id, cache_id, size)
            return layer
        # Already stored: drop our copy and the child's hold on the parent.
        self.driver.remove(cache_id)
        self._busy.discard(cache_id)
        if parent is not None:
            self.release(parent)
        return found[0]

    def retain(self, chain_id: str) -> None:
        with self._lock, self._db.tx() as c:
            if self._repo.add_refs(c, chain_id, 1) < 0:
                raise NotFound(f"layer does not exist: {chain_id}")

    def _release_tx(self, c: Cursor, chain_id: str | None) -> list[str]:
        """Drop one reference, cascading down the chain; returns the cache ids to delete."""
        doomed: list[str] = []
        while chain_id is not None:
            found = self._repo.get_in(c, chain_id)
            if found is None:
                raise NotFound(f"layer does not exist: {chain_id}")
            layer, refs = found
            if refs > 1:
                self._repo.add_refs(c, chain_id, -1)
                break
            self._repo.delete(c, chain_id)
            doomed.append(layer.cache_id)
            chain_id = layer.parent
        return doomed

    def _remove_dirs(self, ids: list[str]) -> None:
        for cache_id in ids:
            self._indexes.forget(self.driver.diff_dir(cache_id).parent)
            try:
                self.driver.remove(cache_id)
            except Exception:  # the row is gone: reconcile() will retry the files
                log.exception("removing layer dir %s", cache_id)

    def release(self, chain_id: str) -> None:
        with self._lock:
            with self._db.tx() as c:
                doomed = self._release_tx(c, chain_id)
            self._remove_dirs(doomed)

    def _write_index(self, cache_id: str) -> None:
        """The new layer's path index (B1); without it the layer still stands: the index is
        built on first use instead."""
        try:
            layerindex.index_layer(self.driver.diff_dir(cache_id).parent)
        except OSError:
            log.exception("indexing layer %s", cache_id)

    def index(self, chain_id: str) -> layerindex.Index:
        """The layer's path index (storage/layerindex.py), built now if it has none (B1)."""
        return self._indexes.get(self.driver.diff_dir(self.get(chain_id).cache_id).parent)

    def layer_tar(self, chain_id: str) -> Iterator[bytes]:
        return self.driver.diff(self.get(chain_id).cache_id)

    def graph_driver(self, chain_id: str) -> dict[str, object]:
        return {"Name": "overlay2", "Data": self.driver.metadata(self.get(chain_id).cache_id)}

    # container layers -----------------------------------------------------------------------

    def create_rw(self, container_id: str, parent: str | None) -> RWLayer:
        with self._lock, Rollback() as rb:
            if self._repo.get_rw(container_id) is not None:
                raise Conflict(f"container layer for {container_id} already exists")
            parent_cache = None
            if parent is not None:
                parent_cache = self.get(parent).cache_id
                self.retain(parent)
                rb.push(self.release, parent)
            mount_id = secrets.token_hex(32)
            rw = RWLayer(container_id, mount_id, f"{mount_id}-init", parent)
            # create_rw holds the store's lock throughout: a snapshot never sees it half-made
            self.driver.create(rw.init_id, parent_cache)
            rb.push(self.driver.remove, rw.init_id)
            initlayer.populate(self.driver.diff_dir(rw.init_id))
            self.driver.create(rw.mount_id, rw.init_id)
            rb.push(self.driver.remove, rw.mount_id)
            with self._db.tx() as c:
                self._repo.insert_rw(c, rw)
            rb.commit()
            return rw

    def get_rw(self, container_id: str) -> RWLayer:
        rw = self._repo.get_rw(container_id)
        if rw is None:
            raise NotFound(f"no such container layer: {container_id}")
        return rw

    def rw_layers(self) -> list[RWLayer]:
        return self._repo.all_rw()

    def mount(self, container_id: str) -> Path:
        return self.driver.get(self.get_rw(container_id).mount_id)

    def unmount(self, container_id: str) -> None:
        self.driver.put(self.get_rw(container_id).mount_id)

    def remove_rw(self, container_id: str) -> None:
        """The pair is the container's alone and its caller holds the container's lock, so
        its unmount and rmtree run outside the store's lock: parallel removals of many
        containers overlap (#17). Order as always: the writable dir, the row (and the image
        layer references it held), the init dir; a crash in between leaves a dir reconcile()
        removes, or a row whose removal is run again."""
        rw = self._repo.get_rw(container_id)
        if rw is None:
            return
        own = (rw.mount_id, rw.init_id)
        with self._lock:
            self._busy.update(own)  # check() skips them meanwhile
        try:
            self.driver.remove(rw.mount_id)  # unmounts first, whatever the count
            with self._lock:
                with self._db.tx() as c:
                    if not self._repo.delete_rw(c, container_id):
                        return  # removed meanwhile by another caller: its references are gone
                    doomed = self._release_tx(c, rw.parent) if rw.parent else []
                self._graph.pop(container_id, None)
                self._remove_dirs(doomed)
            self._remove_dirs([rw.init_id])
        finally:
            with self._lock:
                self._busy.difference_update(own)

    def changes(self, container_id: str) -> list[Change]:
        return self.driver.changes(self.get_rw(container_id).mount_id)

    def rw_size(self, container_id: str, stamp: Hashable | None = None) -> int:
        """SizeRw. With a `stamp` (the container is not running; e.g. its StartedAt) a size
        walked before under the same stamp is reused (storage/usage.py says when that is safe)."""
        if stamp is None:
            return self.driver.diff_size(self.get_rw(container_id).mount_id)
        return usage.SIZES.size(
            ("rw", container_id),
            stamp,
            lambda: str(self.driver.diff_dir(self.get_rw(container_id).mount_id)),
        )

    def rw_dirs(self, container_id: str) -> tuple[Path, Path]:
        """The container's init layer and writable layer diff/ directories."""
        rw = self.get_rw(container_id)
        return self.driver.diff_dir(rw.init_id), self.driver.diff_dir(rw.mount_id)

    def rw_tar(self, container_id: str) -> Iterator[bytes]:
        return self.driver.diff(self.get_rw(container_id).mount_id)

    def rw_graph_driver(self, container_id: str) -> dict[str, object]:
        got = self._graph.get(container_id)
        if got is None:
            got = {
                "Name": "overlay2",
                "Data": self.driver.metadata(self.get_rw(container_id).mount_id),
            }
            self._graph[container_id] = got
        return got

    # start-up -------------------------------------------------------------------------------

    def reconcile_refs(self, holders: Iterable[str]) -> list[str]:
        """Recount every layer's references from what holds it: `holders` (each image's top
        layer, once per image), child layers and container layers. Run at daemon start, when
        no pull or build holds one in memory: a killed daemon's in-flight references go. A
        layer then held by nothing (a killed pull's finished layers) stays, unreferenced, for a
        retried pull to reuse; prune_dangling() removes such layers. Returns the fixed ids."""
        expected: Counter[str] = Counter(holders)
        with self._lock, self._db.tx() as c:
            for row in c.query("SELECT parent FROM layers WHERE parent IS NOT NULL"):
                expected[str(row["parent"])] += 1
            for row in c.query("SELECT parent FROM rw_layers WHERE parent IS NOT NULL"):
                expected[str(row["parent"])] += 1
            fixed = []
            for row in c.query("SELECT chain_id, refs FROM layers"):
                chain_id, want = str(row["chain_id"]), expected.get(str(row["chain_id"]), 0)
                if int(row["refs"]) != want:
                    c.execute("UPDATE layers SET refs = ? WHERE chain_id = ?", (want, chain_id))
                    fixed.append(chain_id)
        for chain_id in fixed:
            log.warning("layer %s: references recounted after an unclean stop", chain_id)
        return fixed

    def prune_dangling(self) -> list[Layer]:
        """Remove the layers nothing holds (see reconcile_refs), and what only they held."""
        with self._lock:
            with self._db.tx() as c:
                doomed: list[str] = []
                removed: list[Layer] = []
                for row in c.query("SELECT chain_id FROM layers WHERE refs <= 0"):
                    found = self._repo.get_in(c, str(row["chain_id"]))
                    if found is None:
                        continue
                    layer, _ = found
                    self._repo.delete(c, layer.chain_id)
                    doomed.append(layer.cache_id)
                    removed.append(layer)
                    if layer.parent is not None:
                        doomed += self._release_tx(c, layer.parent)
            self._remove_dirs(doomed)
        return removed

    def snapshot(self) -> tuple[list[tuple[Layer, int]], list[RWLayer], set[str], set[str]]:
        """For `system check` (storage/check.py): every layer with its reference count, the
        container layers, the directories present and those being made or removed."""
        with self._lock:
            busy = set(self._busy)
            dirs = set(self.driver.ids())
            return self._repo.all_with_refs(), self._repo.all_rw(), dirs, busy

    def remove_orphans(self, ids: Iterable[str]) -> list[str]:
        """Remove these directories if still no row names them and none is being made."""
        with self._lock:
            known = self._repo.known_dirs() | self._busy
            doomed = [d for d in ids if d not in known]
            for d in doomed:
                log.warning("removing layer dir %s no record names", d)
            self._remove_dirs(doomed)
            self.driver.prune_links()
            return doomed

    def reconcile(self) -> list[str]:
        """Remove layer dirs and l/ links no metadata row names (leftovers of a crash).
        Call once at daemon start, before anything registers. Returns the removed ids."""
        with self._lock:
            known = self._repo.known_dirs()
            orphans = [d for d in self.driver.ids() if d not in known]
            for d in orphans:
                log.warning("removing incomplete layer dir %s", d)
            self._remove_dirs(orphans)
            self.driver.prune_links()
            for layer in self._repo.all():
                if not self.driver.exists(layer.cache_id):
                    log.error("layer %s: directory %s is missing", layer.chain_id, layer.cache_id)
            return orphans
