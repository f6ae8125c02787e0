"""The layer store on the real kernel: content addressing and sharing (S1), container layers
with the init layer (S2), copy-on-write (S3), removal (S4), sizes (S5), commit export (S6)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.core.layers import Change
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.state import layers as layer_state
from dockyard.state.db import Database
from dockyard.storage import mount
from dockyard.storage.layers import Layers, chain_id_of
from dockyard.storage.overlay2 import Overlay2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def make_tar(files: dict[str, bytes | None], mtime: int = 1_600_000_000) -> bytes:
    """name -> content; None makes a directory, b"->target" a symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.mtime = mtime
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif data.startswith(b"->"):
                ti.type, ti.linkname = tarfile.SYMTYPE, data[2:].decode()
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


BASE = make_tar(
    {"bin": None, "bin/sh": b"#!shell", "etc": None, "etc/passwd": b"root:x:0:0"}
    | {"tmp": None, "usr": None, "usr/lib": None, "usr/lib/libc": b"C" * 100}
)
APP = make_tar({"app": None, "app/main": b"print(1)"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Layers]:
    db = Database.open(tmp_path / "dockyard.db", schemas=[layer_state.SCHEMA])
    layers = Layers(db, Overlay2(tmp_path / "overlay2"))
    yield layers
    left = mount.mounts_under(tmp_path)
    for p in sorted(left, reverse=True):
        mount.unmount(p, mount.MNT_DETACH)
    db.close()
    assert not left, f"test left mounts behind: {left}"


def image(store: Layers, *tars: bytes) -> str:
    """Register a stack like an image loader: keep one reference on the top layer only."""
    top: str | None = None
    for t in tars:
        layer = store.register(io.BytesIO(t), top)
        if top is not None:
            store.release(top)
        top = layer.chain_id
    assert top is not None
    return top


def layer_dirs(store: Layers) -> list[str]:
    return store.driver.ids()


def test_register_is_content_addressed(store: Layers) -> None:
    """S1: diff_id = sha256(tar), chain_id = sha256(parent + " " + diff_id), size stored."""
    base = store.register(io.BytesIO(BASE), None)
    assert base.diff_id == "sha256:" + hashlib.sha256(BASE).hexdigest()
    assert base.chain_id == base.diff_id and base.parent is None
    assert base.size == len(b"#!shell") + len(b"root:x:0:0") + 100
    app = store.register(io.BytesIO(APP), base.chain_id)
    expected = hashlib.sha256(f"{base.chain_id} {app.diff_id}".encode()).hexdigest()
    assert app.chain_id == "sha256:" + expected == chain_id_of(base.chain_id, app.diff_id)
    assert store.chain(app.chain_id) == [base, app]
    assert store.get(app.chain_id) == app
    assert (store.driver.root / base.cache_id / "committed").exists()
    with pytest.raises(NotFound):
        store.get("sha256:" + "0" * 64)


def test_shared_base_is_stored_once(store: Layers) -> None:
    """S1: two images from one base share its layer on disk; the duplicate dir is discarded."""
    one = image(store, BASE, APP)
    two = image(store, BASE, make_tar({"other": b"2"}))
    assert store.chain(one)[0] == store.chain(two)[0]
    assert len(layer_dirs(store)) == 3
    assert len(store.layers()) == 3
    assert store.refs(store.chain(one)[0].chain_id) == 2  # held by both children
    again = store.register(io.BytesIO(APP), store.chain(one)[0].chain_id)
    assert again.chain_id == one and store.refs(one) == 2
    assert len(layer_dirs(store)) == 3
    store.release(one)
    store.release(one)
    assert len(layer_dirs(store)) == 2


def test_release_cascades_but_not_under_a_container(store: Layers) -> None:
    """S4: a layer under a container layer stays; removing both deletes the whole chain."""
    top = image(store, BASE, APP)
    store.create_rw("c1", top)
    store.release(top)  # the image goes away, the container still uses its layers
    assert store.get(top).chain_id == top
    store.remove_rw("c1")
    assert store.layers() == [] and layer_dirs(store) == []
    assert os.listdir(store.driver.root / "l") == []


def test_container_layers_init_and_graph_driver(store: Layers) -> None:
    """S2: <mount_id>-init holds Docker's mount points; GraphDriver data as Docker shows it."""
    top = image(store, BASE, APP)
    rw = store.create_rw("c1", top)
    assert len(rw.mount_id) == 64 and rw.init_id == rw.mount_id + "-init"
    with pytest.raises(Conflict):
        store.create_rw("c1", top)
    root = store.driver.root
    init = root / rw.init_id / "diff"
    for d in ("dev/pts", "dev/shm", "proc", "sys"):
        assert (init / d).is_dir()
    for f in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console", ".dockerenv"):
        assert (init / f).is_file() and (init / f).stat().st_size == 0
    assert os.readlink(init / "etc/mtab") == "/proc/mounts"
    assert (root / rw.init_id / "committed").exists()
    chain = store.chain(top)
    data = store.rw_graph_driver("c1")["Data"]
    assert isinstance(data, dict)
    assert data["UpperDir"] == f"{root}/{rw.mount_id}/diff"
    assert data["WorkDir"] == f"{root}/{rw.mount_id}/work"
    assert data["MergedDir"] == f"{root}/{rw.mount_id}/merged"
    assert data["LowerDir"] == ":".join(
        [str(init)] + [f"{root}/{layer.cache_id}/diff" for layer in reversed(chain)]
    )
    img = store.graph_driver(top)
    assert img["Name"] == "overlay2"
    assert img["Data"] == {
        "LowerDir": f"{root}/{chain[0].cache_id}/diff",
        "MergedDir": f"{root}/{chain[1].cache_id}/merged",
        "UpperDir": f"{root}/{chain[1].cache_id}/diff",
        "WorkDir": f"{root}/{chain[1].cache_id}/work",
    }
    single = store.graph_driver(chain[0].chain_id)["Data"]
    assert isinstance(single, dict) and "LowerDir" not in single
    store.remove_rw("c1")


def test_copy_on_write_and_changes(store: Layers) -> None:
    """S3: writes land in the container's own upper dir; the image and a sibling container are
    untouched; a deleted lower file becomes a whiteout; changes() lists A/C/D like docker diff."""
    top = image(store, BASE, APP)
    a, b = store.create_rw("a", top), store.create_rw("b", top)
    ma, mb = store.mount("a"), store.mount("b")
    try:
        (ma / "tmp" / "x").write_text("new")
        (ma / "etc" / "passwd").write_text("changed")
        (ma / "bin" / "sh").unlink()
        assert (mb / "etc" / "passwd").read_text() == "root:x:0:0"
        assert (mb / "bin" / "sh").exists() and not (mb / "tmp" / "x").exists()
        assert (ma / "etc" / "hosts").exists()  # from the init layer
    finally:
        store.unmount("a")
        store.unmount("b")
    base_diff = store.driver.diff_dir(store.chain(top)[0].cache_id)
    assert (base_diff / "etc" / "passwd").read_text() == "root:x:0:0"
    wh = os.lstat(store.driver.diff_dir(a.mount_id) / "bin" / "sh")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert store.changes("a") == [
        Change("/bin", 0),
        Change("/bin/sh", 2),
        Change("/etc/passwd", 0),  # /etc itself is unchanged: Docker omits it too
        Change("/tmp", 0),
        Change("/tmp/x", 1),
    ]
    assert store.changes("b") == []
    assert store.rw_size("b") == 0
    store.remove_rw("a")
    store.remove_rw("b")
    assert not (store.driver.root / b.mount_id).exists()


def test_opaque_dir_changes(store: Layers) -> None:
    """S3: replacing a lower dir makes it opaque; its lower children show as deleted."""
    top = image(store, BASE)
    store.create_rw("c", top)
    m = store.mount("c")
    try:
        for name in os.listdir(m / "usr" / "lib"):
            os.unlink(m / "usr" / "lib" / name)
        os.rmdir(m / "usr" / "lib")
        os.mkdir(m / "usr" / "lib")
        (m / "usr" / "lib" / "new").write_text("n")
    finally:
        store.unmount("c")
    kinds = {c.path: c.kind for c in store.changes("c")}
    assert kinds["/usr/lib/libc"] == 2 and kinds["/usr/lib/new"] == 1 and kinds["/usr"] == 0
    with tarfile.open(fileobj=io.BytesIO(b"".join(store.rw_tar("c")))) as tf:
        names = tf.getnames()
    assert "usr/lib/.wh..wh..opq" in names
    store.remove_rw("c")


def test_rw_size_counts_hardlinks_once_and_commit(store: Layers) -> None:
    """S5: apparent size, hardlinks once. S6: the rw tar registers as a new top layer."""
    top = image(store, BASE)
    store.create_rw("c", top)
    m = store.mount("c")
    try:
        (m / "data").write_bytes(b"z" * 1000)
        os.link(m / "data", m / "data2")
        (m / "ln").symlink_to("data")
        (m / "emptydir").mkdir()
    finally:
        store.unmount("c")
    assert store.rw_size("c") == 1000 + len("data")
    committed = store.register(io.BytesIO(b"".join(store.rw_tar("c"))), top)
    assert committed.size == 1004 and committed.parent == top
    again = store.register(io.BytesIO(b"".join(store.layer_tar(committed.chain_id))), top)
    assert again == committed  # deterministic export: same diff ID
    store.release(committed.chain_id)
    store.release(committed.chain_id)
    store.remove_rw("c")


def test_remove_rw_while_mounted_leaves_nothing(store: Layers) -> None:
    """S4: rm removes both container layers, their l/ links and the mount; idempotent."""
    top = image(store, BASE)
    rw = store.create_rw("c", top)
    before = set(os.listdir(store.driver.root / "l"))
    store.mount("c")
    store.mount("c")
    store.remove_rw("c")
    store.remove_rw("c")
    assert not mount.mounts_under(store.driver.root)
    assert not (store.driver.root / rw.mount_id).exists()
    assert not (store.driver.root / rw.init_id).exists()
    assert len(before - set(os.listdir(store.driver.root / "l"))) == 2
    with pytest.raises(NotFound):
        store.get_rw("c")
    assert store.refs(top) == 1


def test_reconcile_removes_incomplete_dirs(store: Layers) -> None:
    """A crash between applying a tar and recording it leaves a dir no row names."""
    top = image(store, BASE)
    store.create_rw("c", top)
    store.driver.create("deadbeef", None)  # as a crashed register() would leave it
    (store.driver.root / "l" / "DANGLINGLINK").symlink_to("../gone/diff")
    assert store.reconcile() == ["deadbeef"]
    assert len(layer_dirs(store)) == 3
    assert not (store.driver.root / "l" / "DANGLINGLINK").is_symlink()
    store.remove_rw("c")


def test_failed_register_leaves_nothing(store: Layers) -> None:
    """A cut-off or corrupt tar registers nothing and returns the parent's reference."""
    top = image(store, BASE)
    with pytest.raises(InvalidParameter):
        store.register(io.BytesIO(make_tar({"ok": b"1"})[:700] + b"garbage" * 100), top)
    assert len(layer_dirs(store)) == 1 and store.refs(top) == 1


def test_concurrent_registers_of_one_tar_store_it_once(store: Layers) -> None:
    """S1, thread safety: racing registers of the same content end with one layer, two refs."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: store.register(io.BytesIO(BASE), None), range(4)))
    assert len({r.chain_id for r in results}) == 1
    assert store.refs(results[0].chain_id) == 4 and len(layer_dirs(store)) == 1


def test_container_layer_without_image(store: Layers) -> None:
    """FROM scratch: the init layer is the only lower."""
    store.create_rw("c", None)
    m = store.mount("c")
    try:
        assert (m / "etc" / "hosts").exists()
        (m / "f").write_text("x")
    finally:
        store.unmount("c")
    assert store.changes("c") == [Change("/f", 1)]
    store.remove_rw("c")
    assert layer_dirs(store) == []


def test_tar_directory_of_merged_rootfs(store: Layers) -> None:
    """E3 export: the merged view as a plain tar, deleted lower files simply absent."""
    from dockyard.storage.layerexport import tar_directory

    top = image(store, BASE, APP)
    store.create_rw("c", top)
    m = store.mount("c")
    try:
        (m / "bin" / "sh").unlink()
        with tarfile.open(fileobj=io.BytesIO(b"".join(tar_directory(m)))) as tf:
            names = tf.getnames()
    finally:
        store.unmount("c")
    assert "app/main" in names and "etc/hosts" in names and "usr/lib/libc" in names
    assert "bin/sh" not in names and not any(".wh." in n for n in names)
    store.remove_rw("c")


def test_references_recounted_after_a_killed_pull(store: Layers) -> None:
    """E5 / R1: a pull killed after registering layers leaves references nobody holds; the
    next start recounts them from images, children and containers, keeps the unheld layers
    for a retried pull to reuse, and image prune's prune_dangling removes them."""
    base = store.register(io.BytesIO(make_tar({"a": b"1"})), None)
    top = store.register(io.BytesIO(make_tar({"b": b"2"})), base.chain_id)
    store.release(base.chain_id)  # as a pull does: the child holds its parent now
    kept = image(store, make_tar({"c": b"3"}))  # an image's top layer, held once
    store.retain(kept)  # a reference a killed process took and never gave back
    assert sorted(store.reconcile_refs([kept])) == sorted([top.chain_id, kept])
    assert store._repo.refs(top.chain_id) == 0 and store._repo.refs(base.chain_id) == 1
    assert store._repo.refs(kept) == 1
    assert store.get(top.chain_id).diff_id == top.diff_id  # still there for a retry
    removed = [layer.chain_id for layer in store.prune_dangling()]
    assert removed == [top.chain_id]
    for gone in (top.chain_id, base.chain_id):
        with pytest.raises(errors.NotFound):
            store.get(gone)
    assert store.get(kept).chain_id == kept and store.reconcile_refs([kept]) == []


def test_parallel_removals_of_containers_on_one_image(store: Layers) -> None:
    """S4, #17: many mounted containers removed at once (as `docker rm` of many does), and two
    removals of the same one racing: everything goes, the image's reference is counted once."""
    from concurrent.futures import ThreadPoolExecutor

    top = image(store, BASE, APP)
    names = [f"c{i}" for i in range(24)]
    for n in names:
        store.create_rw(n, top)
        store.mount(n)
    assert store.refs(top) == 1 + len(names)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(store.remove_rw, names + names))
    assert store.rw_layers() == [] and store.refs(top) == 1
    assert not mount.mounts_under(store.driver.root)
    assert len(layer_dirs(store)) == 2  # the image's two layers only
    store.release(top)
    assert layer_dirs(store) == [] and os.listdir(store.driver.root / "l") == []


def test_removal_holds_no_store_lock_while_deleting_files(store: Layers) -> None:
    """#17: while one container's layer is being unmounted and deleted, another container is
    created and a `system check` snapshot sees nothing wrong (the pair is marked busy)."""
    import threading

    from dockyard.storage.check import layer_findings, snapshot

    top = image(store, BASE)
    rw = store.create_rw("slow", top)
    inside, go_on = threading.Event(), threading.Event()
    real_remove = store.driver.remove

    def slow_remove(id: str) -> None:
        if id == rw.mount_id:
            inside.set()
            assert go_on.wait(10)
        real_remove(id)

    store.driver.remove = slow_remove  # type: ignore[method-assign]
    t = threading.Thread(target=store.remove_rw, args=("slow",))
    t.start()
    try:
        assert inside.wait(10)
        done = threading.Event()
        maker = threading.Thread(target=lambda: (store.create_rw("other", top), done.set()))
        maker.start()
        assert done.wait(5), "create_rw waited for another container's removal"
        maker.join()
        assert layer_findings(snapshot(store), [top]) == []
    finally:
        go_on.set()
        t.join()
    assert layer_findings(snapshot(store), [top]) == []
    assert {r.container_id for r in store.rw_layers()} == {"other"}
    store.remove_rw("other")
