"""Layer provenance arithmetic on synthetic layer indexes (B1): explain's per-layer actions,
image layers' added/changed/removed counts, wasted bytes and dive's efficiency score. Real
layers built by Dockerfiles are checked in tests/integration/test_explain.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.core.layers import Layer
from dockyard.images import provenance as prov
from dockyard.storage import layerindex as li
from dockyard.storage.layerindex import Entry

F, D = 0o100644, 0o040755


def f(size: int, mode: int = F) -> Entry:
    return Entry(li.FILE, size, mode, 0)


def d(kind: str = li.DIR) -> Entry:
    return Entry(kind, 0, D, 0)


WH = Entry(li.WHITEOUT, 0, 0o020000, 0)

FILES = [
    {"/bin": d(), "/bin/a": f(100), "/etc": d(), "/etc/x": f(10), "/data": d(),
     "/data/y": f(50), "/data/z": f(20)},
    {"/bin": d(), "/bin/a": f(120)},  # overwrite
    {"/etc": d(), "/etc/x": WH},  # rm /etc/x
    {"/data": d(li.OPAQUE), "/data/y": f(5)},  # rm -rf /data && mkdir /data && echo > /data/y
    {"/bin": d(), "/bin/a": f(120, 0o100755)},  # chmod +x /bin/a
    {"/bin": WH},  # rm -rf /bin
]  # fmt: skip
HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created_by": '/bin/sh -c #(nop) CMD ["sh"]', "empty_layer": True},
    {"created_by": "/bin/sh -c echo hi > /bin/a"},
    {"created_by": "/bin/sh -c rm /etc/x"},
    {"created_by": "|1 A=b /bin/sh -c rm -rf /data && mkdir /data"},
    {"created_by": "RUN /bin/sh -c chmod +x /bin/a # buildkit"},
    {"created_by": "", "comment": "Imported from -"},
]


def image(files: list[li.Index] = FILES) -> list[prov.ImageLayer]:
    chain = [Layer(f"sha256:{i:064x}", f"sha256:{i:064x}", None, str(i), 1000 + i)
             for i in range(len(files))]  # fmt: skip
    history = prov.pair_history(chain, HISTORY)
    return [prov.ImageLayer(i, chain[i], history[i], files[i]) for i in range(len(files))]


def test_history_pairs_skip_empty_layers_and_name_instructions() -> None:
    """B1: history entries map to layers skipping empty_layer ones; instructions read as
    written (nop prefix, RUN, build args, BuildKit's suffix, an import's comment)."""
    got = [prov.instruction(il.history) for il in image()]
    assert got == [
        "ADD file:abc in /",
        "RUN echo hi > /bin/a",
        "RUN rm /etc/x",
        "RUN rm -rf /data && mkdir /data",
        "RUN chmod +x /bin/a",
        "Imported from -",
    ]
    assert [prov.made_by(il.history) for il in image()] == [
        "build", "build", "build", "build", "build", "import"
    ]  # fmt: skip
    assert prov.made_by({"created_by": "sh -c echo hi > /x", "comment": "fix"}) == "commit"
    assert prov.made_by({}) == ""


def test_layers_counts_wasted_bytes_and_dive_efficiency() -> None:
    """B1: per layer added/changed/removed; wasted = every version a later layer overwrote or
    deleted (an overwrite 100, a deleted file 10, an opaque dir 50+20, a chmod copy-up 120, a
    deleted dir's file 120); efficiency is dive's sum of minimum over sum of all sizes."""
    doc = prov.analyze(image())
    files = [row["files"] for row in doc["layers"]]
    assert files == [
        {"added": 7, "changed": 0, "removed": 0},
        {"added": 0, "changed": 1, "removed": 0},
        {"added": 0, "changed": 0, "removed": 1},
        {"added": 0, "changed": 1, "removed": 1},
        {"added": 0, "changed": 1, "removed": 0},
        {"added": 0, "changed": 0, "removed": 1},
    ]
    assert [row["wasted_bytes"] for row in doc["layers"]] == [180, 120, 0, 0, 120, 0]
    assert doc["wasted_bytes"] == 420
    # dive: /bin/a 100+120+120 (min 100), /etc/x 10+0 (min 0), /data/y 50+5 (min 5),
    # /data/z 20, /bin's whiteout weighs the 120 bytes it deleted
    assert doc["efficiency"] == pytest.approx((100 + 0 + 5 + 20 + 120) / (340 + 10 + 55 + 20 + 120))
    assert doc["dive_wasted_bytes"] == 340 + 10 + 55  # /bin/a, /etc/x, /data/y
    assert doc["size"] == sum(1000 + i for i in range(6))
    assert doc["user_size"] == doc["size"] - 1000
    assert doc["wasted_percent"] == round(100 * 420 / doc["user_size"], 2)
    worst = {i["path"]: (i["versions_hidden"], i["wasted_bytes"]) for i in doc["inefficiencies"]}
    assert worst == {"/bin/a": (3, 340), "/etc/x": (1, 10), "/data/y": (1, 50),
                     "/data/z": (1, 20)}  # fmt: skip
    assert doc["layers"][1]["instruction"] == "RUN echo hi > /bin/a"


def test_no_waste_is_full_efficiency() -> None:
    doc = prov.analyze(image([{"/a": f(5)}, {"/b": f(6)}]))
    assert (doc["wasted_bytes"], doc["efficiency"], doc["inefficiencies"]) == (0, 1.0, [])
    assert prov.analyze([])["efficiency"] == 1.0


def test_file_replaced_by_directory_and_back() -> None:
    doc = prov.analyze(image([{"/a": f(7)}, {"/a": d(), "/a/b": f(3)}, {"/a": f(1)}]))
    assert [r["wasted_bytes"] for r in doc["layers"]] == [7, 3, 0]
    assert [r["files"]["changed"] for r in doc["layers"]] == [0, 1, 1]


def test_explain_actions_per_layer() -> None:
    """B1: explain lists every layer that touched the path with its action and the ancestor
    that deleted it (a whiteout of a directory, an opaque directory)."""
    rows, visible = prov.explain_layers(image(), "/bin/a")
    assert [(r["index"], r["action"], r.get("via")) for r in rows] == [
        (0, "added", None),
        (1, "changed", None),
        (4, "changed", None),
        (5, "deleted", "/bin"),
    ]
    assert not visible
    assert [r["size"] for r in rows[:3]] == [100, 120, 120]
    assert rows[2]["mode"] == "-rwxr-xr-x"
    assert rows[1]["instruction"] == "RUN echo hi > /bin/a"
    rows, visible = prov.explain_layers(image(), "/data/z")
    assert [(r["index"], r["action"], r.get("via")) for r in rows] == [
        (0, "added", None),
        (3, "deleted", "/data"),
    ]
    rows, visible = prov.explain_layers(image(), "/data/y")
    assert [(r["index"], r["action"], r.get("via")) for r in rows] == [
        (0, "added", None),
        (3, "changed", "/data"),
    ]
    assert visible
    rows, visible = prov.explain_layers(image(), "/etc/x")
    assert [(r["index"], r["action"], r["type"]) for r in rows] == [
        (0, "added", "file"),
        (2, "deleted", "whiteout"),
    ]
    assert prov.explain_layers(image(), "/nowhere") == ([], False)
    assert prov.clean_path("etc//x/../y/") == "/etc/y"


def test_index_of_plain_tree(tmp_path: Path) -> None:
    """B1: the on-disk index records kinds, sizes (a hardlinked inode once), modes; it is
    written beside diff/ and read back; the cache builds a missing one."""
    diff = tmp_path / "diff"
    (diff / "etc").mkdir(parents=True)
    (diff / "etc" / "a").write_bytes(b"x" * 10)
    os.link(diff / "etc" / "a", diff / "etc" / "b")
    (diff / "etc" / "l").symlink_to("a")
    os.chmod(diff / "etc" / "a", 0o600)
    index = li.build(diff)
    assert list(index) == ["/etc", "/etc/a", "/etc/b", "/etc/l"]
    assert index["/etc"].kind == li.DIR
    assert sorted([index["/etc/a"].size, index["/etc/b"].size]) == [0, 10]
    assert index["/etc/l"] == Entry(li.SYMLINK, 1, index["/etc/l"].mode, index["/etc/l"].mtime, "a")
    assert index["/etc/a"].mode & 0o777 == 0o600
    assert li.read(tmp_path) is None
    cache = li.LayerIndexes()
    assert cache.get(tmp_path) == index  # built and stored
    assert li.read(tmp_path) == index
    assert li.entries_at(diff, ["/etc", "/etc/a", "/nope"]) == {
        "/etc": index["/etc"], "/etc/a": index["/etc/a"]
    }  # fmt: skip


def test_parents_symlinks_are_followed_inside_the_root() -> None:
    """B1: explain looks at the path a process would open: symlinked parent directories
    (absolute, relative, chained, `..` clamped at the root) are followed, the last component
    is not; a loop stops."""

    def link(target: str) -> Entry:
        return Entry(li.SYMLINK, len(target), 0o120777, 0, target)

    base = {"/usr": d(), "/usr/bin": d(), "/usr/bin/ls": f(9), "/bin": link("usr/bin"),
            "/abs": link("/usr"), "/up": link("../../usr/bin"), "/chain": link("abs/bin"),
            "/loop": link("loop2"), "/loop2": link("loop"), "/gone": link("usr")}  # fmt: skip
    top = {"/gone": WH}
    indexes = [top, base]

    def lookup(p: str) -> Entry | None:
        return prov.visible_entry(indexes, p)

    assert prov.resolve(lookup, "/bin/ls") == "/usr/bin/ls"
    assert prov.resolve(lookup, "/abs/bin/ls") == "/usr/bin/ls"
    assert prov.resolve(lookup, "/up/ls") == "/usr/bin/ls"
    assert prov.resolve(lookup, "/chain/ls") == "/usr/bin/ls"
    assert prov.resolve(lookup, "/bin") == "/bin"  # the last component stays
    assert prov.resolve(lookup, "/loop/x") == "/loop/x"
    assert prov.resolve(lookup, "/gone/bin/ls") == "/gone/bin/ls"  # whited out: not followed
    assert prov.resolve(lookup, "/") == "/"
    assert lookup("/usr/bin/ls") == f(9) and lookup("/gone") is None


def test_index_cache_is_bounded_by_entries(tmp_path: Path) -> None:
    """B1: the daemon keeps parsed indexes up to a number of paths, least recently used out
    first; the index asked for last always stays, even when it alone is over the bound."""
    dirs = []
    for n, files in enumerate((3, 3, 5)):
        layer = tmp_path / str(n)
        (layer / "diff").mkdir(parents=True)
        for i in range(files):
            (layer / "diff" / f"f{i}").write_text("x")
        dirs.append(layer)
    cache = li.LayerIndexes(max_entries=6)
    cache.get(dirs[0])
    cache.get(dirs[1])
    assert cache.cached() == [str(dirs[0]), str(dirs[1])]
    cache.get(dirs[0])  # used again: dirs[1] is now the oldest
    assert len(cache.get(dirs[2])) == 5
    assert cache.cached() == [str(dirs[2])]
    cache.forget(dirs[2])
    assert cache.cached() == []
    assert [len(cache.get(d)) for d in dirs] == [3, 3, 5]  # read back from the stored files


def test_concurrent_indexing_of_one_layer_never_fails(tmp_path: Path) -> None:
    """B1: the dashboard asks for every image's layers at once, so two requests index a layer
    two images share together; with one temp name for both, one renamed the other's away."""
    import threading

    (tmp_path / "diff" / "etc").mkdir(parents=True)
    for i in range(50):
        (tmp_path / "diff" / "etc" / f"f{i}").write_text("x" * i)
    errors: list[BaseException] = []

    def index_many() -> None:
        try:
            for _ in range(100):
                li.index_layer(tmp_path)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=index_many) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert li.read(tmp_path) is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
