"""The LayerStore contract (#14, S1-S5), as storage/protocols.py documents its lifecycle: one
suite that every implementation runs (a fake joins by adding its factory to STORES)."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.state import layers as layer_state
from dockyard.state.db import Database
from dockyard.storage.layers import Layers
from dockyard.storage.overlay2 import Overlay2
from dockyard.storage.protocols import LayerStore

pytestmark = [pytest.mark.integration]


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_600_000_000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def overlay2_store(root: Path) -> tuple[LayerStore, Callable[[], None]]:
    db = Database.open(root / "dockyard.db", schemas=[layer_state.SCHEMA])
    return Layers(db, Overlay2(root / "overlay2")), db.close


STORES = {"overlay2": overlay2_store}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LayerStore]:
    made, close = STORES[request.param](tmp_path)
    yield made
    close()


BASE = tar_of({"etc/os": b"base\n"})
APP = tar_of({"app/main": b"print(1)\n"})


def test_register_is_content_addressed(store: LayerStore) -> None:
    a = store.register(io.BytesIO(BASE), None)
    b = store.register(io.BytesIO(BASE), None)
    assert a == b and a.chain_id == a.diff_id and a.parent is None
    top = store.register(io.BytesIO(APP), a.chain_id)
    assert top.parent == a.chain_id and top.chain_id != top.diff_id
    assert [layer.chain_id for layer in store.chain(top.chain_id)] == [a.chain_id, top.chain_id]
    assert store.get(top.chain_id) == top
    dirs = store.diff_dirs(top.chain_id)
    assert len(dirs) == 2 and (dirs[0] / "app/main").is_file() and (dirs[1] / "etc/os").is_file()


def test_references_hold_layers_until_the_last_release(store: LayerStore) -> None:
    base = store.register(io.BytesIO(BASE), None)
    store.register(io.BytesIO(BASE), None)  # a second reference
    store.release(base.chain_id)
    assert store.get(base.chain_id) == base
    store.release(base.chain_id)
    with pytest.raises(errors.NotFound):
        store.get(base.chain_id)


def test_a_layer_tar_round_trips(store: LayerStore) -> None:
    base = store.register(io.BytesIO(BASE), None)
    data = b"".join(store.layer_tar(base.chain_id))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        got = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert got == {"etc/os": b"base\n"}


def test_container_layers(store: LayerStore) -> None:
    """create_rw -> mount (the image's files, copy-on-write) -> changes/rw_size -> remove_rw."""
    base = store.register(io.BytesIO(BASE), None)
    rw = store.create_rw("c" * 64, base.chain_id)
    assert store.get_rw("c" * 64) == rw and rw.parent == base.chain_id
    merged = store.mount("c" * 64)
    try:
        assert (merged / "etc/os").read_bytes() == b"base\n"
        (merged / "etc/os").write_bytes(b"changed\n")
        (merged / "new").write_bytes(b"x" * 10)
    finally:
        store.unmount("c" * 64)
    kinds = {(c.path, c.kind) for c in store.changes("c" * 64)}
    assert {("/etc/os", 0), ("/new", 1)} <= kinds
    assert store.rw_size("c" * 64) >= 18
    store.release(base.chain_id)  # a container layer still uses it: it stays
    assert store.get(base.chain_id) == base
    store.remove_rw("c" * 64)
    with pytest.raises(errors.NotFound):
        store.get_rw("c" * 64)
    assert not os.path.ismount(merged)
