"""The storage contracts. Implementations: storage/overlay2.py (driver), storage/layers.py (store).

Lifecycle of a read-only layer (S1, S2):
    register(tar, parent) -> Layer            content-addressed: diff_id = sha256(uncompressed tar),
                                              chain_id = diff_id if no parent else
                                              sha256(parent_chain_id + " " + diff_id); a layer that
                                              already exists is not stored twice. The caller receives
                                              one reference on the returned layer.
    retain(chain_id) / release(chain_id)      reference counting; a layer whose count drops to zero
                                              and that no child layer or container layer uses is
                                              deleted (dir, short link, metadata) and its parent is
                                              released in turn. Images hold one reference each.
Lifecycle of a container's layers (S2-S4):
    create_rw(cid, parent_chain_id) -> RWLayer     makes `<mount_id>-init` (Docker's empty mount
                                              points) and `<mount_id>` on top of it
    mount(cid) -> merged path / unmount(cid)  reference-counted overlay mount
    changes(cid), rw_size(cid), rw_tar(cid)   read the writable layer (diff/ is the upper dir)
    remove_rw(cid)                            unmounts if needed, deletes both layers
A removed layer's directory leaves its name at once (renamed into <root>/.trash); its files are
deleted soon after by the driver's reaper (storage/trash.py, D-scale-8). close() waits for that.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from dockyard.core.layers import Change, Layer, RWLayer
from dockyard.storage.layerindex import Index


class Driver(Protocol):
    """overlay2 with Docker's on-disk layout: <root>/<id>/{diff,link,lower,work,merged},
    <root>/l/<26-char> -> ../<id>/diff, `committed` written on a parent when a child is made."""

    def create(self, id: str, parent: str | None) -> None: ...
    def remove(self, id: str) -> None: ...  # gone from its name now, its files soon after
    def close(self) -> None: ...  # waits until removed layers' files are deleted
    def exists(self, id: str) -> bool: ...
    def get(self, id: str) -> Path: ...  # mount (refcounted), returns merged/
    def put(self, id: str) -> None: ...  # unmount when the count drops to zero
    def diff_dir(self, id: str) -> Path: ...
    def apply_diff(self, id: str, tar: BinaryIO) -> int: ...  # returns the diff's size
    def diff(self, id: str) -> Iterator[bytes]: ...  # tar of diff/ with .wh. whiteouts
    def changes(self, id: str) -> list[Change]: ...
    def diff_size(self, id: str) -> int: ...
    def metadata(self, id: str) -> dict[str, str]: ...  # GraphDriver.Data


class LayerStore(Protocol):
    # `digest`: the stream hashes itself (a pull's inflater); read once the tar is drained
    def register(
        self, tar: BinaryIO, parent: str | None, digest: Callable[[], str] | None = None
    ) -> Layer: ...
    def get(self, chain_id: str) -> Layer: ...  # errors.NotFound
    def chain(self, chain_id: str) -> list[Layer]: ...  # base first
    def diff_dirs(self, chain_id: str) -> list[Path]: ...  # top first, for read-only views
    def layers(self) -> list[Layer]: ...  # every layer, held or not
    def retain(self, chain_id: str) -> None: ...
    def release(self, chain_id: str) -> None: ...
    def layer_tar(self, chain_id: str) -> Iterator[bytes]: ...  # the layer's own diff as tar
    def index(self, chain_id: str) -> Index: ...  # path -> Entry of the layer's diff (B1)
    def graph_driver(self, chain_id: str) -> dict[str, object]: ...  # image inspect GraphDriver
    def prune_dangling(self) -> list[Layer]: ...  # layers nothing holds (a killed pull's)

    def create_rw(self, container_id: str, parent: str | None) -> RWLayer: ...
    def get_rw(self, container_id: str) -> RWLayer: ...
    def rw_layers(self) -> list[RWLayer]: ...
    def mount(self, container_id: str) -> Path: ...
    def unmount(self, container_id: str) -> None: ...
    def remove_rw(self, container_id: str) -> None: ...
    def changes(self, container_id: str) -> list[Change]: ...
    def rw_size(self, container_id: str, stamp: Hashable | None = None) -> int: ...
    def rw_dirs(self, container_id: str) -> tuple[Path, Path]: ...  # init, upper diff/
    def rw_tar(self, container_id: str) -> Iterator[bytes]: ...
    def rw_graph_driver(self, container_id: str) -> dict[str, object]: ...
