"""#17 (R1, D-scale-8): deferred deletion of removed layer directories (storage/trash.py) on the
real filesystem with coreutils' rm: a discarded tree leaves its name at once and its files soon
after, symlinks are never followed, a mount inside a tree is detached, never walked into, another mount's
tree and a nearly full filesystem get the synchronous delete, and a crash's leftovers are
emptied by the next Trash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dockyard.storage import mount
from dockyard.storage import trash as trashmod
from dockyard.storage.overlay2 import Overlay2
from dockyard.storage.trash import TRASH_DIR, Trash

pytestmark = pytest.mark.integration


def _tree(root: Path, files: int = 20) -> Path:
    (root / "diff" / "etc").mkdir(parents=True)
    (root / "work" / "work").mkdir(parents=True)
    for i in range(files):
        (root / "diff" / "etc" / f"f{i}").write_text("x" * i)
    (root / "link").write_text("ABC")
    return root


def test_a_discarded_tree_leaves_its_name_at_once_and_its_files_soon_after(
    tmp_path: Path,
) -> None:
    t = Trash(tmp_path / TRASH_DIR)
    try:
        victim = _tree(tmp_path / "layer1")
        t.discard(victim)
        assert not victim.exists()
        assert t.drain(10)
        assert os.listdir(t.dir) == []
        t.discard(tmp_path / "never-there")  # nothing to do
        assert t.drain(10)
    finally:
        t.close()


def test_a_symlink_inside_a_tree_is_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("precious")
    victim = _tree(tmp_path / "layer")
    (victim / "diff" / "escape").symlink_to(outside)
    (victim / "diff" / "escape-file").symlink_to(outside / "keep")
    t = Trash(tmp_path / TRASH_DIR)
    try:
        t.discard(victim)
        assert t.drain(10)
    finally:
        t.close()
    assert (outside / "keep").read_text() == "precious"
    assert os.listdir(t.dir) == []


def test_a_mount_left_inside_a_tree_is_detached_never_walked_into(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "keep").write_text("precious")
    victim = _tree(tmp_path / "layer")
    target = victim / "diff" / "mnt"
    target.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    t = Trash(tmp_path / TRASH_DIR)
    try:
        t.discard(victim)
        assert t.drain(10)
        assert (source / "keep").read_text() == "precious"
        assert mount.mounts_under(tmp_path) == []  # detached, then its mount point removed
        assert os.listdir(t.dir) == []
    finally:
        t.close()
        for mnt in t.dir.glob("*/diff/mnt"):
            subprocess.run(["umount", str(mnt)], check=False)
    assert (source / "keep").read_text() == "precious"


def test_another_mounts_tree_is_deleted_in_place(tmp_path: Path) -> None:
    shm = Path("/dev/shm") / f"dockyard-trash-test-{os.getpid()}"
    victim = _tree(shm)
    t = Trash(tmp_path / TRASH_DIR)
    try:
        t.discard(victim)  # EXDEV: no rename across mounts
        assert not victim.exists()
        assert os.listdir(t.dir) == []
    finally:
        t.close()
        subprocess.run(["rm", "-rf", str(shm)], check=False)


def test_a_nearly_full_filesystem_gets_the_space_back_before_discard_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Trash(tmp_path / TRASH_DIR)
    monkeypatch.setattr(trashmod, "LOW_SPACE", 1 << 62)  # every filesystem is "nearly full"
    try:
        victim = _tree(tmp_path / "layer")
        t.discard(victim)
        assert not victim.exists() and os.listdir(t.dir) == []
        assert t._thread is None  # no reaper was needed
    finally:
        t.close()


def test_a_crashs_leftovers_are_emptied_by_the_next_trash(tmp_path: Path) -> None:
    d = tmp_path / TRASH_DIR
    d.mkdir()
    _tree(d / "left-by-a-killed-daemon")
    t = Trash(d)
    try:
        assert t.drain(10)
        assert os.listdir(d) == []
    finally:
        t.close()


def test_overlay2_removal_goes_through_its_trash_and_close_empties_it(tmp_path: Path) -> None:
    drv = Overlay2(tmp_path / "overlay2")
    try:
        drv.create("base", None)
        (drv.diff_dir("base") / "f").write_text("x")
        drv.create("top", "base")
        drv.remove("top")
        drv.remove("base")
        assert not drv.exists("top") and not drv.exists("base")
        assert drv.ids() == []  # the trash is no layer
    finally:
        drv.close()
    assert os.listdir(drv.root / TRASH_DIR) == []
