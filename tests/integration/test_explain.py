"""`explain` and `image layers` (B1) on an image built from known Dockerfile instructions against
the session daemon: real layers on overlay2 with real whiteouts and opaque directories, their
on-disk path indexes, the per-layer actions, sizes, instructions, wasted bytes and efficiency;
a container's copy-up, volume, bind and tmpfs; the CLI's table, JSON and --fail-over."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.integration.test_build import build, image_id, text
from tests.unit.test_archive import tar_of

pytestmark = pytest.mark.integration

BIG, KEEP, ADDED = 100_000, 1000, b"added by ADD\n"
DOCKERFILE = """FROM busybox
COPY big /data/big
COPY keep /data/keep
RUN echo -n 12345 > /data/keep
RUN rm /data/big
RUN chmod 600 /data/keep
ENV UNUSED=1
RUN mkdir -p /xo/d && echo -n abc > /xo/d/f1 && echo -n defg > /xo/d/f2
RUN rm -rf /xo/d && mkdir /xo/d && echo -n xy > /xo/d/f1
ADD add.txt /etc/added.txt
"""
TAG = "dy-explain:1"


@pytest.fixture(scope="module")
def img(daemon: Daemon) -> Iterator[str]:
    files = {"Dockerfile": DOCKERFILE, "big": b"b" * BIG, "keep": b"k" * KEEP, "add.txt": ADDED}
    status, msgs = build(daemon, files, t=TAG, nocache=1)
    assert status == 200, text(msgs)
    iid = image_id(msgs)
    yield iid
    daemon.api("DELETE", f"/images/{TAG}?force=1")


def get(daemon: Daemon, path: str) -> Any:
    status, body = daemon.api("GET", path)
    assert status == 200, body
    return body


def layer_dirs(daemon: Daemon, ref: str) -> list[Path]:
    """The image's layer directories (overlay2/<id>/), base first."""
    data = get(daemon, f"/images/{ref}/json")["GraphDriver"]["Data"]
    diffs = [data["UpperDir"], *data.get("LowerDir", "").split(":")]
    return [Path(p).parent for p in reversed([p for p in diffs if p])]


def test_index_is_written_with_whiteouts_and_opaque_dirs(daemon: Daemon, img: str) -> None:
    """B1: every layer has its index beside diff/, made when the layer was registered; a
    deleted file is a whiteout entry, rm -rf + mkdir an opaque directory."""
    dirs = layer_dirs(daemon, img)
    assert len(dirs) == 9
    indexes = [json.loads((d / "dockyard-index.json").read_text())["entries"] for d in dirs]
    assert indexes[1]["/data/big"][:2] == ["f", BIG]
    assert indexes[4]["/data/big"][0] == "w"
    assert indexes[7]["/xo/d"][0] == "O" and "/xo/d/f2" not in indexes[7]
    assert indexes[8]["/etc/added.txt"][:2] == ["f", len(ADDED)]


def test_explain_image_paths(daemon: Daemon, img: str) -> None:
    """B1: each layer that added, changed or deleted a path, with the instruction that made it
    (empty-layer history entries skipped), its size and mode in that layer."""
    doc = get(daemon, f"/dockyard/images/{TAG}/explain?path=/data/keep")
    assert doc["image"] == img and doc["path"] == "/data/keep"
    rows = [
        (r["index"], r["action"], r["size"], r["mode"], r["instruction"]) for r in doc["layers"]
    ]
    assert rows == [
        (2, "added", KEEP, "-rw-r--r--", rows[0][4]),
        (3, "changed", 5, "-rw-r--r--", "RUN echo -n 12345 > /data/keep"),
        (5, "changed", 5, "-rw-------", "RUN chmod 600 /data/keep"),
    ]
    assert rows[0][4].startswith("COPY file:") and rows[0][4].endswith(" in /data/keep")
    assert doc["visible"] == {"exists": True, "from": "image", "layer": 5}
    doc = get(daemon, f"/dockyard/images/{TAG}/explain?path=data/big")
    assert [(r["index"], r["action"], r["type"]) for r in doc["layers"]] == [
        (1, "added", "file"), (4, "deleted", "whiteout")
    ]  # fmt: skip
    assert doc["layers"][1]["instruction"] == "RUN rm /data/big"
    assert doc["visible"]["exists"] is False
    doc = get(daemon, f"/dockyard/images/{TAG}/explain?path=/xo/d/f2")
    assert [(r["index"], r["action"], r.get("via")) for r in doc["layers"]] == [
        (6, "added", None), (7, "deleted", "/xo/d")
    ]  # fmt: skip
    doc = get(daemon, f"/dockyard/images/{TAG}/explain?path=/xo/d")
    assert [(r["index"], r["action"], r["opaque"]) for r in doc["layers"]] == [
        (6, "added", False), (7, "changed", True)
    ]  # fmt: skip
    doc = get(daemon, f"/dockyard/images/{img[7:19]}/explain?path=/bin/busybox")
    assert [(r["index"], r["action"]) for r in doc["layers"]] == [(0, "added")]
    assert get(daemon, f"/dockyard/images/{TAG}/explain?path=/no/such")["layers"] == []
    status, body = daemon.api("GET", f"/dockyard/images/{TAG}/explain")
    assert (status, body["message"]) == (400, "path is required")
    status, body = daemon.api("GET", "/dockyard/images/dy-no-such:1/explain?path=/x")
    assert (status, body["message"]) == (404, "No such image: dy-no-such:1")


def test_image_layers_sizes_wasted_and_efficiency(daemon: Daemon, img: str) -> None:
    """B1: per layer its instruction, size, files added/changed/removed; wasted bytes are the
    overwritten keep (1000, then 5 by the chmod), the deleted big (100000) and the opaque dir's
    old files (3 + 4); efficiency is dive's ratio, computed here from the known sizes."""
    doc = get(daemon, f"/dockyard/images/{TAG}/layers")
    assert doc["image"] == img
    rows = doc["layers"]
    assert len(rows) == 9
    got = [(r["size"], r["files"], r["wasted_bytes"]) for r in rows[1:]]

    def files(added: int = 0, changed: int = 0, removed: int = 0) -> dict[str, int]:
        return {"added": added, "changed": changed, "removed": removed}

    assert got == [
        (BIG, files(added=2), BIG),
        (KEEP, files(added=1), KEEP),
        (5, files(changed=1), 5),
        (0, files(removed=1), 0),
        (5, files(changed=1), 0),
        (7, files(added=4), 7),
        (2, files(changed=1, removed=1), 0),
        (len(ADDED), files(added=1), 0),
    ]
    assert [r["instruction"] for r in rows[3:8]] == [
        "RUN echo -n 12345 > /data/keep", "RUN rm /data/big", "RUN chmod 600 /data/keep",
        "RUN mkdir -p /xo/d && echo -n abc > /xo/d/f1 && echo -n defg > /xo/d/f2",
        "RUN rm -rf /xo/d && mkdir /xo/d && echo -n xy > /xo/d/f1",
    ]  # fmt: skip
    assert rows[0]["wasted_bytes"] == 0 and rows[0]["files"]["added"] > 100
    assert doc["wasted_bytes"] == BIG + KEEP + 5 + 7
    base = rows[0]["bytes"]["added"]  # each base file seen once: min = cumulative
    minimum = base + 0 + 5 + 2 + 4 + len(ADDED)
    cumulative = base + BIG + (KEEP + 5 + 5) + (3 + 2) + 4 + len(ADDED)
    assert doc["efficiency"] == pytest.approx(minimum / cumulative)
    assert doc["size"] == sum(r["size"] for r in rows)
    assert doc["user_size"] == doc["size"] - rows[0]["size"]
    assert doc["inefficiencies"][0] == {"path": "/data/big", "versions_hidden": 1,
                                        "wasted_bytes": BIG}  # fmt: skip


def test_index_is_built_lazily_when_missing(daemon: Daemon) -> None:
    """B1: a layer without an index (stored before the index existed) gets one on first use."""
    status, msgs = build(daemon, {"Dockerfile": "FROM busybox\nRUN echo -n lazy > /lazy\n"},
                         t="dy-explain-lazy:1", nocache=1)  # fmt: skip
    assert status == 200, text(msgs)
    try:
        top = layer_dirs(daemon, "dy-explain-lazy:1")[-1] / "dockyard-index.json"
        top.unlink()
        doc = get(daemon, "/dockyard/images/dy-explain-lazy:1/explain?path=/lazy")
        assert [(r["action"], r["size"]) for r in doc["layers"]] == [("added", 4)]
        assert json.loads(top.read_text())["entries"]["/lazy"][:2] == ["f", 4]
    finally:
        daemon.api("DELETE", "/images/dy-explain-lazy:1?force=1")


@pytest.fixture
def hostdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="dy-explain-", dir="/var/tmp"))
    (d / "x").write_text("from the host")
    yield d
    shutil.rmtree(d)


def test_explain_container_copy_up_and_mounts(daemon: Daemon, img: str, hostdir: Path) -> None:
    """B1: a container's writable layer on top of the image's: a file written after start is
    copied up (with its ctime), a new file added, a deleted one whited out; paths under a
    volume, a bind and a tmpfs come from the longest mount that contains them."""
    name = "dy-explain-ctr"
    script = "echo -n hello > /xo/d/f1 && echo new > /new && rm /etc/added.txt"
    r = daemon.dockyard("run", "--name", name, "-v", "dy-explain-vol:/data", "-v",
                        f"{hostdir}:/mnt/b", "--tmpfs", "/run/t", TAG, "sh", "-c", script)  # fmt: skip
    try:
        assert r.returncode == 0, r.stderr

        def explain(path: str) -> Any:
            return get(daemon, f"/dockyard/containers/{name}/explain?path={path}")

        doc = explain("/xo/d/f1")
        assert [(r["layer"] if r["layer"] in ("init", "container") else r["index"], r["action"])
                for r in doc["layers"]] == [(6, "added"), (7, "changed"), ("container", "changed")]  # fmt: skip
        top = doc["layers"][-1]
        assert top["copied_up"] is True and top["size"] == 5 and top["ctime"] > 0
        assert doc["visible"] == {"exists": True, "from": "container"}
        new = explain("/new")["layers"]
        assert [(r["layer"], r["action"], r["copied_up"]) for r in new] == [
            ("container", "added", False)
        ]  # fmt: skip
        gone = explain("/etc/added.txt")
        assert [r["action"] for r in gone["layers"]] == ["added", "deleted"]
        assert gone["layers"][-1]["layer"] == "container"
        assert gone["visible"] == {"exists": False, "from": None}
        vol = explain("/data/keep")
        assert vol["visible"]["from"] == "volume" and vol["visible"]["exists"] is True
        assert vol["visible"]["mount"]["name"] == "dy-explain-vol"
        assert vol["visible"]["mount"]["destination"] == "/data"
        assert [r["index"] for r in vol["layers"]] == [2, 3, 5]  # what the image has there
        bind = explain("/mnt/b/x")["visible"]
        assert bind == {"exists": True, "from": "bind", "mount": {"type": "bind",
                        "destination": "/mnt/b", "source": str(hostdir), "name": ""}}  # fmt: skip
        assert explain("/mnt/b/missing")["visible"]["exists"] is False
        assert explain("/run/t/x")["visible"]["mount"]["type"] == "tmpfs"
        hosts = explain("/etc/hosts")["visible"]
        assert (hosts["from"], hosts["exists"], hosts["mount"]["destination"]) == (
            "bind", True, "/etc/hosts"
        )  # fmt: skip
        status, body = daemon.api("GET", "/dockyard/containers/dy-no-such/explain?path=/x")
        assert (status, body["message"]) == (404, "No such container: dy-no-such")

        # the CLI: containers first, then images, as `inspect`
        cli = daemon.dockyard("explain", name, "/xo/d/f1")
        assert cli.returncode == 0, cli.stderr
        lines = cli.stdout.splitlines()
        assert lines[0] == "/xo/d/f1: visible, from the container"
        assert lines[1].split() == ["LAYER", "ACTION", "TYPE", "SIZE", "MODE", "MTIME", "CREATED",
                                    "BY"]  # fmt: skip
        assert lines[4].split()[:4] == ["container", "changed", "file", "5B"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[4].split()[5])
        cli = daemon.dockyard("explain", "--format", "json", name, "/data/keep")
        assert json.loads(cli.stdout) == explain("/data/keep")
    finally:
        daemon.dockyard("rm", "-f", "-v", name)
        daemon.api("DELETE", "/volumes/dy-explain-vol")


def test_cli_explain_image_and_layers(daemon: Daemon, img: str) -> None:
    """B1: `dockyard explain IMAGE PATH` as a table, `image layers` as a table and as JSON (the
    endpoint's document), `--fail-over` exits 2 over the threshold; unknown names fail as
    `inspect` does."""
    r = daemon.dockyard("explain", TAG, "/data/big")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "/data/big: not visible"
    assert lines[2].split()[:4] == ["1", "added", "file", "100kB"]
    assert re.search(r"   COPY file:[0-9a-f]{12} in /data/big$", lines[2])
    assert lines[3].split()[:3] == ["4", "deleted", "whiteout"]
    assert lines[3].endswith("RUN rm /data/big")
    r = daemon.dockyard("image", "layers", TAG)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].split() == ["LAYER", "SIZE", "ADDED", "CHANGED", "REMOVED", "WASTED",
                              "INSTRUCTION"]  # fmt: skip
    assert out[4].split() == ["3", "5B", "0", "1", "0", "5B", "RUN", "echo", "-n", "12345", ">",
                              "/data/keep"]  # fmt: skip
    assert any(line.startswith("Total size: ") and "Wasted: 101kB" in line for line in out)
    r = daemon.dockyard("image", "layers", "--format", "json", TAG)
    assert json.loads(r.stdout) == get(daemon, f"/dockyard/images/{TAG}/layers")
    r = daemon.dockyard("image", "layers", "--fail-over", "100000", "--format", "json", TAG)
    assert r.returncode == 2
    assert r.stderr.strip() == "wasted space 101012 bytes is over --fail-over 100000"
    assert json.loads(r.stdout)["wasted_bytes"] == 101012  # the report is printed all the same
    assert daemon.dockyard("image", "layers", "--fail-over", "99k", TAG).returncode == 0
    r = daemon.dockyard("image", "layers", "--fail-over", "lots", TAG)
    assert r.returncode != 0 and 'invalid argument "lots" for "--fail-over" flag' in r.stderr
    r = daemon.dockyard("explain", "dy-no-such-thing", "/x")
    assert (r.returncode, r.stderr.strip()) == (1, "Error: No such object: dy-no-such-thing")


def test_explain_names_commits_and_imports(daemon: Daemon, tmp_path: Path) -> None:
    """B1: a committed layer shows the container's command and the commit message, an imported
    one its `Imported from` comment; each says how it was made."""
    name = "dy-explain-commit"
    r = daemon.dockyard("run", "--name", name, "busybox", "sh", "-c", "echo -n c > /committed")
    try:
        assert r.returncode == 0, r.stderr
        r = daemon.dockyard("commit", "-m", "my change", name, "dy-explain-commit:1")
        assert r.returncode == 0, r.stderr
        row = get(daemon, "/dockyard/images/dy-explain-commit:1/explain?path=/committed")["layers"]
        assert [(x["index"], x["action"], x["size"]) for x in row] == [(1, "added", 1)]
        assert (row[0]["made_by"], row[0]["instruction"], row[0]["comment"]) == (
            "commit", "sh -c echo -n c > /committed", "my change"
        )  # fmt: skip
        tar = tmp_path / "imp.tar"
        with tarfile.open(tar, "w") as tf:
            ti = tarfile.TarInfo("imp.txt")
            ti.size = 3
            tf.addfile(ti, io.BytesIO(b"imp"))
        r = daemon.dockyard("import", str(tar), "dy-explain-import:1")
        assert r.returncode == 0, r.stderr
        row = get(daemon, "/dockyard/images/dy-explain-import:1/explain?path=/imp.txt")["layers"]
        assert [(x["index"], x["action"], x["size"], x["made_by"], x["instruction"]) for x in row] == [
            (0, "added", 3, "import", "Imported from -")
        ]  # fmt: skip
    finally:
        daemon.dockyard("rm", "-f", name)
        daemon.api("DELETE", "/images/dy-explain-commit:1")
        daemon.api("DELETE", "/images/dy-explain-import:1")


def test_explain_container_whose_image_was_removed(daemon: Daemon) -> None:
    """B1: a container keeps its image's layers after `rmi -f`; explain still names them (the
    instructions are gone with the image's config)."""
    status, msgs = build(daemon, {"Dockerfile": "FROM busybox\nRUN echo -n g > /gone\n"},
                         t="dy-explain-gone:1", nocache=1)  # fmt: skip
    assert status == 200, text(msgs)
    name = "dy-explain-orphan"
    r = daemon.dockyard("create", "--name", name, "dy-explain-gone:1", "true")
    try:
        assert r.returncode == 0, r.stderr
        status, _ = daemon.api("DELETE", f"/images/{image_id(msgs)}?force=1")
        assert status == 200
        assert daemon.api("GET", f"/images/{image_id(msgs)}/json")[0] == 404
        doc = get(daemon, f"/dockyard/containers/{name}/explain?path=/gone")
        assert [(x["index"], x["action"], x["size"], x["made_by"]) for x in doc["layers"]] == [
            (1, "added", 1, "")
        ]  # fmt: skip
        assert doc["visible"] == {"exists": True, "from": "image"}
    finally:
        daemon.dockyard("rm", "-f", name)


def test_explain_follows_symlinked_parents(daemon: Daemon) -> None:
    """B1: `/lib2/x.so` in an image where /lib2 -> usr/lib2 is explained as /usr/lib2/x.so; in
    a container, a symlink its writable layer made is followed too."""
    df = "FROM busybox\nRUN mkdir -p /usr/lib2 && echo -n so > /usr/lib2/x.so && ln -s usr/lib2 /lib2\n"
    status, msgs = build(daemon, {"Dockerfile": df}, t="dy-explain-link:1", nocache=1)
    assert status == 200, text(msgs)
    name = "dy-explain-link"
    try:
        doc = get(daemon, "/dockyard/images/dy-explain-link:1/explain?path=/lib2/x.so")
        assert (doc["path"], doc["resolved"]) == ("/lib2/x.so", "/usr/lib2/x.so")
        assert [(x["index"], x["action"], x["size"]) for x in doc["layers"]] == [(1, "added", 2)]
        r = daemon.dockyard("explain", "dy-explain-link:1", "/lib2/x.so")
        assert r.stdout.splitlines()[0] == (
            "/lib2/x.so (resolved: /usr/lib2/x.so): visible, from the image"
        )
        r = daemon.dockyard("run", "--name", name, "dy-explain-link:1", "ln", "-s", "/lib2", "/l3")
        assert r.returncode == 0, r.stderr
        doc = get(daemon, f"/dockyard/containers/{name}/explain?path=/l3/x.so")
        assert doc["resolved"] == "/usr/lib2/x.so"
        assert doc["visible"] == {"exists": True, "from": "image"}
        link = get(daemon, f"/dockyard/containers/{name}/explain?path=/l3")["layers"]
        assert [(x["layer"], x["action"], x["type"]) for x in link] == [
            ("container", "added", "symlink")
        ]  # fmt: skip
    finally:
        daemon.dockyard("rm", "-f", name)
        daemon.api("DELETE", "/images/dy-explain-link:1")


def test_layers_that_came_as_tars(daemon: Daemon) -> None:
    """B1: a loaded image's layers (as pulled ones: tars with `.wh.NAME` whiteouts and
    `.wh..wh..opq` opaque markers) are indexed and explained like built ones."""
    base = tar_of([("d", None, ""), ("d/a", b"aaa", ""), ("d/b", b"bbbbb", ""),
                   ("e", b"eeeeeee", "")])  # fmt: skip
    top = tar_of([("d", None, ""), ("d/.wh..wh..opq", b"", ""), ("d/c", b"cc", ""),
                  (".wh.e", b"", "")])  # fmt: skip
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in (base, top)]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": True},
            {"created_by": "/bin/sh -c rm -rf /d && mkdir /d && echo -n cc > /d/c && rm /e"},
        ],
    }).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["dy-explain-load:1"],
                            "Layers": ["l0/layer.tar", "l1/layer.tar"]}]).encode()  # fmt: skip
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tf:
        for name, data in (("l0/layer.tar", base), ("l1/layer.tar", top),
                           (config_name, config), ("manifest.json", manifest)):  # fmt: skip
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    status, body = daemon.api("POST", "/images/load?quiet=1", raw=archive.getvalue())
    assert status == 200 and b"error" not in body, body
    try:
        dirs = layer_dirs(daemon, "dy-explain-load:1")
        index = json.loads((dirs[1] / "dockyard-index.json").read_text())["entries"]
        assert (index["/d"][0], index["/e"][0], sorted(index)) == ("O", "w", ["/d", "/d/c", "/e"])

        def explain(path: str) -> list[tuple[int, str, str | None]]:
            doc = get(daemon, f"/dockyard/images/dy-explain-load:1/explain?path={path}")
            return [(r["index"], r["action"], r.get("via")) for r in doc["layers"]]

        assert explain("/d/a") == [(0, "added", None), (1, "deleted", "/d")]
        assert explain("/e") == [(0, "added", None), (1, "deleted", None)]
        assert explain("/d/c") == [(1, "added", "/d")]
        doc = get(daemon, "/dockyard/images/dy-explain-load:1/layers")
        assert [r["files"] for r in doc["layers"]] == [
            {"added": 4, "changed": 0, "removed": 0},
            {"added": 1, "changed": 0, "removed": 3},
        ]
        assert (
            doc["layers"][1]["instruction"]
            == "RUN rm -rf /d && mkdir /d && echo -n cc > /d/c && rm /e"
        )
        assert (doc["wasted_bytes"], doc["layers"][0]["wasted_bytes"]) == (15, 15)
    finally:
        daemon.api("DELETE", "/images/dy-explain-load:1")
