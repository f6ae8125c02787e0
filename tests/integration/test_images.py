"""The image service on the real overlay2 layer store: import (E3), bootstrap (S7), layers shared
and released (S1), tag/rmi conflicts, history, save/load round trips (E3), commit (S6)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.distribution import manifests
from dockyard.distribution.endpoints import RegistryOptions
from dockyard.images import archive, reference
from dockyard.images.content import ContentStore
from dockyard.services.events import Events
from dockyard.services.images import Images
from dockyard.services.protocols import ImageService
from dockyard.state import images as image_state
from dockyard.state import layerblobs as layerblob_state
from dockyard.state import layers as layer_state
from dockyard.state.db import Database
from dockyard.state.layerblobs import LayerBlob
from dockyard.storage.layers import Layers
from dockyard.storage.overlay2 import Overlay2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@dataclass
class FakeContainer:
    id: str
    state: dict[str, Any] = field(default_factory=lambda: {"Status": "exited"})


@dataclass
class Env:
    images: Images
    layers: Layers
    events: Events
    root: Path
    users: dict[str, list[FakeContainer]]


SCHEMAS = [layer_state.SCHEMA, image_state.SCHEMA, layerblob_state.SCHEMA]
# docker.io names go to a closed local port: a test never reaches out (E5).
NO_HUB = RegistryOptions(hub="127.0.0.1:9")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    db = Database.open(tmp_path / "db", schemas=SCHEMAS)
    layers = Layers(db, Overlay2(tmp_path / "overlay2"))
    users: dict[str, list[FakeContainer]] = {}
    events = Events()
    images = Images(
        db,
        ContentStore(tmp_path / "content", tmp_path / "tmp"),
        layers,
        events,
        lambda i: bool(users.get(i)),
        lambda i: users.get(i, []),
        registry=NO_HUB,
    )
    yield Env(images, layers, events, tmp_path, users)
    db.close()


def make_tar(files: dict[str, bytes], mtime: int = 1_600_000_000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.size, ti.mode = mtime, len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_satisfies_image_service_protocol(env: Env) -> None:
    """E1: the API handlers can call Images through the ImageService contract."""
    service: ImageService = env.images
    assert service is env.images


def test_import_gzip_with_changes(env: Env) -> None:
    """E3: import detects compression, applies --change, one layer, comment "Imported from -"."""
    raw = make_tar({"hello.txt": b"hi\n"})
    image_id = env.images.import_tar(
        io.BytesIO(gzip.compress(raw)), "example/app", "v1", ['CMD ["/hello"]', "ENV A=1"], ""
    )
    info = env.images.inspect("example/app:v1")
    assert info["Id"] == image_id
    assert info["RootFS"]["Layers"] == [sha(raw)]
    assert info["Config"]["Cmd"] == ["/hello"] and info["Config"]["Env"] == ["A=1"]
    assert info["Comment"] == "Imported from -" and info["RepoTags"] == ["example/app:v1"]
    assert info["GraphDriver"]["Name"] == "overlay2"
    assert Path(info["GraphDriver"]["Data"]["UpperDir"], "hello.txt").read_bytes() == b"hi\n"
    assert info["Size"] == 3
    hist = env.images.history(image_id)
    assert len(hist) == 1 and hist[0]["Id"] == image_id and hist[0]["Size"] == 3
    assert hist[0]["Tags"] == ["example/app:v1"]
    actions = [(e.type, e.action) for e in env.events.recent()]
    assert ("image", "import") in actions and ("image", "tag") in actions


def test_import_xz_and_not_a_tar(env: Env) -> None:
    """E3: xz bodies are accepted; garbage is a 400 and leaves no image."""
    env.images.import_tar(io.BytesIO(lzma.compress(make_tar({"a": b"1"}))), None, None, [], "m")
    assert len(env.images.list(False, {}, False)) == 1
    with pytest.raises(errors.InvalidParameter):
        env.images.import_tar(io.BytesIO(b"x" * 2000), None, None, [], "")
    assert len(env.images.list(True, {}, False)) == 1


def test_bootstrap_busybox_is_deterministic_and_runs_layout(env: Env) -> None:
    """S7: busybox:latest from the host busybox; same id twice; /bin has the applets."""
    first = env.images.bootstrap_busybox()
    assert env.images.bootstrap_busybox() == first
    info = env.images.inspect("busybox")
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["Config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ]
    upper = Path(info["GraphDriver"]["Data"]["UpperDir"])
    assert (upper / "bin/busybox").is_file() and (upper / "bin/sh").is_file()
    assert (upper / "bin/ls").stat().st_ino == (upper / "bin/busybox").stat().st_ino
    assert (upper / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert "root:x:0:0" in (upper / "etc/passwd").read_text()
    assert [r["CreatedBy"] for r in env.images.history("busybox")][0].endswith('CMD ["sh"]')
    # A fresh store on the same host computes the same id.
    db2 = Database.open(env.root / "db2", schemas=SCHEMAS)
    other = Images(
        db2,
        ContentStore(env.root / "c2", env.root / "tmp"),
        Layers(db2, Overlay2(env.root / "o2")),
        Events(),
        lambda i: False,
    )
    assert other.bootstrap_busybox() == first
    db2.close()


def test_resolve_by_short_id_and_errors(env: Env) -> None:
    """E3: name, full id, short id, sha256: prefix; Docker's messages for misses and bad names."""
    image_id = env.images.import_tar(io.BytesIO(make_tar({"f": b"x"})), "a", None, [], "")
    hexd = image_id.removeprefix("sha256:")
    for ref in (
        "a",
        "a:latest",
        "docker.io/library/a",
        image_id,
        hexd,
        hexd[:12],
        "sha256:" + hexd[:6],
    ):
        assert env.images.resolve(ref).id == image_id, ref
    with pytest.raises(errors.NotFound, match=r"^No such image: nope:latest$"):
        env.images.resolve("nope")
    with pytest.raises(errors.InvalidParameter, match="must be lowercase"):
        env.images.resolve("Nope")


def test_rmi_conflicts_and_layer_release(env: Env) -> None:
    """S1/E3: rmi untags, refuses with Docker's conflicts, deletes image and its layers."""
    image_id = env.images.import_tar(io.BytesIO(make_tar({"f": b"x"})), "a", "1", [], "")
    env.images.tag("a:1", "b", "2")
    short = image_id.removeprefix("sha256:")[:12]
    with pytest.raises(
        errors.Conflict,
        match=f"unable to delete {short} \\(must be forced\\) - image is referenced in multiple repositories",
    ):
        env.images.remove(image_id, force=False, noprune=False)
    assert env.images.remove("b:2", False, False) == [{"Untagged": "b:2"}]
    env.users[image_id] = [FakeContainer("c" * 64)]
    with pytest.raises(
        errors.Conflict,
        match=f'conflict: unable to remove repository reference "a:1" \\(must force\\) - container cccccccccccc is using its referenced image {short}',
    ):
        env.images.remove("a:1", False, False)
    env.users[image_id][0].state["Status"] = "running"
    with pytest.raises(
        errors.Conflict,
        match="\\(cannot be forced\\) - image is being used by running container cccccccccccc",
    ):
        env.images.remove(image_id, True, False)
    # -f on the name of an image a running container uses: untag only, the image stays.
    assert env.images.remove("a:1", True, False) == [{"Untagged": "a:1"}]
    assert env.images.resolve(image_id).id == image_id
    env.users.clear()
    top = env.images.top_layer(image_id)
    assert top is not None
    out = env.images.remove(image_id[:19], False, False)
    assert out == [{"Deleted": image_id}, {"Deleted": top}]
    with pytest.raises(errors.NotFound):
        env.layers.get(top)
    assert not list((env.root / "content" / "sha256").iterdir())


def test_shared_layers_and_commit(env: Env) -> None:
    """S1/S6: a committed child shares the parent's layer; history and Parent link them."""
    base = env.images.import_tar(io.BytesIO(make_tar({"base": b"b"})), "base", None, [], "")
    child = env.images.transfers.create_from_layer(
        base,
        iter([make_tar({"new": b"nn"})]),
        container_config={"Cmd": ["sh", "-c", "echo"], "Env": ["X=1"]},
        changes=["LABEL k=v", "EXPOSE 80"],
        comment="c1",
        author="me",
        container_id="f" * 64,
        repo="child",
    )
    info = env.images.inspect("child")
    assert info["Parent"] == base and len(info["RootFS"]["Layers"]) == 2
    assert info["Config"]["Labels"] == {"k": "v"} and info["Config"]["ExposedPorts"] == {
        "80/tcp": {}
    }
    hist = env.images.history("child")
    assert [h["Id"] for h in hist] == [child, base]
    assert hist[0]["CreatedBy"] == "sh -c echo" and hist[0]["Size"] == 2
    base_top = env.images.top_layer(base)
    assert base_top is not None
    assert env.layers.chain(env.images.top_layer(child) or "")[0].chain_id == base_top
    with pytest.raises(errors.Conflict, match="image has dependent child images"):
        env.images.remove(base, True, False)
    # An empty diff adds a history row, no layer.
    same = env.images.transfers.create_from_layer(child, iter([make_tar({})]), comment="noop")
    assert env.images.inspect(same)["RootFS"]["Layers"] == info["RootFS"]["Layers"]
    assert env.images.history(same)[0]["Size"] == 0
    assert env.images.list(False, {"dangling": ["true"]}, False)[0]["Id"] == same
    pruned = env.images.prune({})
    assert {"Deleted": same} in pruned["ImagesDeleted"]
    env.images.remove("child", False, False)
    env.images.remove("base", False, False)
    assert env.layers.layers() == []


def test_list_filters(env: Env) -> None:
    """E3: reference globs, labels, dangling, before/since."""
    a = env.images.import_tar(io.BytesIO(make_tar({"a": b"1"})), "busybox", "x", ["LABEL t=1"], "")
    b = env.images.import_tar(io.BytesIO(make_tar({"b": b"2"})), "other", "y", [], "")
    ids = lambda f: [r["Id"] for r in env.images.list(False, f, False)]  # noqa: E731
    assert ids({"reference": ["busybox:*"]}) == [a]
    assert ids({"reference": ["busybox"]}) == [a]
    assert ids({"label": ["t=1"]}) == [a] and ids({"label": ["t=2"]}) == []
    assert set(ids({"dangling": ["false"]})) == {a, b}
    with pytest.raises(errors.InvalidParameter, match="invalid filter 'nope'"):
        env.images.list(False, {"nope": ["1"]}, False)
    row = env.images.list(False, {"reference": ["other"]}, False)[0]
    assert row["RepoTags"] == ["other:y"] and row["Containers"] == -1 and row["Size"] == 1


def test_save_load_round_trip(env: Env, tmp_path: Path) -> None:
    """E3: save writes docker-archive + OCI layout; load into a fresh store keeps id and tags."""
    base = env.images.import_tar(io.BytesIO(make_tar({"base": b"b"})), "base", None, [], "")
    child = env.images.transfers.create_from_layer(
        base, iter([make_tar({"c": b"c"})]), container_config={"Cmd": ["x"]}, repo="app", tag="1"
    )
    data = b"".join(env.images.save(["app:1"]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = set(tf.getnames())
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
        index = json.loads(tf.extractfile("index.json").read())  # type: ignore[union-attr]
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= names
    assert manifest[0]["RepoTags"] == ["app:1"] and len(manifest[0]["Layers"]) == 2
    assert (
        index["manifests"][0]["annotations"]["io.containerd.image.name"]
        == "docker.io/library/app:1"
    )

    db2 = Database.open(tmp_path / "db2", schemas=SCHEMAS)
    other = Images(
        db2,
        ContentStore(tmp_path / "c2", tmp_path / "t2"),
        Layers(db2, Overlay2(tmp_path / "o2")),
        Events(),
        lambda i: False,
    )
    assert other.load(io.BytesIO(data)) == ["Loaded image: app:1"]
    assert other.resolve("app:1").id == child
    assert other.inspect("app:1")["RootFS"] == env.images.inspect(child)["RootFS"]
    # Loading again changes nothing; the OCI layout alone loads too (gzip layers).
    assert other.load(io.BytesIO(data)) == ["Loaded image: app:1"]
    assert len(other.layers.layers()) == 2  # type: ignore[attr-defined]
    db2.close()


def test_load_oci_layout_gzip_layers(env: Env) -> None:
    """E3: an OCI layout with a gzip layer and no docker manifest.json."""
    layer = make_tar({"hello": b"world"})
    gz = gzip.compress(layer)
    cfg = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
            "created": "2024-01-02T03:04:05Z",
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": archive.MT_MANIFEST,
            "config": {"mediaType": archive.MT_CONFIG, "digest": sha(cfg), "size": len(cfg)},
            "layers": [
                {"mediaType": archive.MT_LAYER + "+gzip", "digest": sha(gz), "size": len(gz)}
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": archive.MT_MANIFEST,
                    "digest": sha(manifest),
                    "size": len(manifest),
                    "annotations": {"io.containerd.image.name": "docker.io/x/y:z"},
                }
            ],
        }
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in {
            "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
            "index.json": index,
            f"blobs/sha256/{sha(cfg)[7:]}": cfg,
            f"blobs/sha256/{sha(gz)[7:]}": gz,
            f"blobs/sha256/{sha(manifest)[7:]}": manifest,
        }.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    assert env.images.load(io.BytesIO(buf.getvalue())) == ["Loaded image: x/y:z"]
    assert env.images.resolve("x/y:z").id == sha(cfg)
    assert env.images.inspect("x/y:z")["Created"] == "2024-01-02T03:04:05Z"


def test_load_rejects_wrong_diff_id(env: Env) -> None:
    """E3: a layer whose digest is not the config's diff id fails like Docker, storing nothing."""
    layer = make_tar({"a": b"a"})
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in {
            "manifest.json": json.dumps(
                [{"Config": "c.json", "RepoTags": ["q:1"], "Layers": ["l/layer.tar"]}]
            ).encode(),
            "c.json": cfg,
            "l/layer.tar": layer,
        }.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    with pytest.raises(errors.InvalidParameter, match="invalid diffID for layer 0"):
        env.images.load(io.BytesIO(buf.getvalue()))
    assert env.images.list(True, {}, False) == [] and env.layers.layers() == []


def test_pull_from_an_unreachable_registry_says_so_and_stores_nothing(env: Env) -> None:
    """E5: a registry that does not answer: dockerd's words, nothing stored."""
    with pytest.raises(errors.System, match="dial tcp 127.0.0.1:9: connect: connection refused"):
        env.images.pull("alpine", "latest")
    assert env.images.list(False, {}, False) == []


def test_start_sweep_keeps_what_is_named_and_removes_the_rest(env: Env) -> None:
    """E5 (#13, D-registry-5): the content store sweep at daemon start keeps an image's config
    and layer tar, a compressed blob whose layer_blobs row names an existing layer, the index a
    digest reference names and the manifest that index lists; a stray blob (a killed daemon's)
    and a blob whose row names a layer that is gone go, the row too. While an image's config
    is unreadable, nothing goes."""
    image_id = env.images.import_tar(io.BytesIO(make_tar({"a": b"a"})), "example/app", "v1", [], "")
    content, rows = env.images.content, env.images.layer_blobs
    inner = content.put(
        b'{"schemaVersion": 2, "mediaType": "%s"}' % manifests.OCI_MANIFEST.encode()
    )
    entry = {"mediaType": manifests.OCI_MANIFEST, "digest": inner, "size": 1}
    index = content.put(json.dumps({"schemaVersion": 2, "mediaType": manifests.OCI_INDEX,
                                    "manifests": [entry]}).encode())  # fmt: skip
    env.images.tag_as(image_id, reference.parse(f"example/app@{index}"))
    diff_id = env.images.inspect(image_id)["RootFS"]["Layers"][0]
    kept = content.put(b"a, compressed")
    rows.add(LayerBlob(diff_id, kept, manifests.DOCKER_LAYER, 13, "example/app"))
    gone_layer = sha(b"a layer that is gone")
    orphan = content.put(b"the blob of a layer that is gone")
    rows.add(LayerBlob(gone_layer, orphan, manifests.DOCKER_LAYER, 32, "example/app"))
    stray = content.put(b"left by a killed daemon")
    before = set(content.digests())
    assert {image_id, diff_id, kept, index, inner, orphan, stray} <= before

    env.images.sweep_content()
    assert set(content.digests()) == before - {orphan, stray}
    assert rows.of(gone_layer) == [] and rows.of(diff_id) != []

    stray = content.put(b"left by a killed daemon")
    content.path(image_id).write_bytes(b"not a config")
    env.images.sweep_content()
    assert content.exists(stray)
