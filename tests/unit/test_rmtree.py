"""storage/rmtree.py (#17): deletes a tree without following symlinks out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.storage.rmtree import remove_tree, remove_tree_quietly


def test_removes_nested_dirs_files_and_unreadable_dirs(tmp_path: Path) -> None:
    top = tmp_path / "layer"
    (top / "diff" / "a" / "b").mkdir(parents=True)
    (top / "diff" / "a" / "b" / "f").write_text("x")
    (top / "diff" / "g").write_text("y")
    os.mkfifo(top / "diff" / "fifo")
    (top / "work" / "work").mkdir(parents=True)
    os.chmod(top / "work" / "work", 0)  # as overlayfs leaves its work dir
    remove_tree(top)
    assert not top.exists()
    remove_tree(top)  # missing: nothing to do
    with pytest.raises(FileNotFoundError):
        remove_tree(top, missing_ok=False)


def test_symlinks_inside_are_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    top = tmp_path / "top"
    top.mkdir()
    (top / "to-dir").symlink_to(outside)
    (top / "to-file").symlink_to(outside / "keep")
    (top / "dangling").symlink_to(tmp_path / "nothing")
    remove_tree(top)
    assert not top.exists()
    assert (outside / "keep").read_text() == "k"


def test_a_symlink_given_as_the_tree_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("x")
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(OSError):
        remove_tree(tmp_path / "link")
    assert (real / "f").exists()


def test_quietly_ignores_what_it_cannot_remove(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    remove_tree_quietly(tmp_path / "link")  # refused, silently
    remove_tree_quietly(tmp_path / "missing")
    assert real.is_dir() and (tmp_path / "link").is_symlink()
    remove_tree_quietly(real)
    assert not real.exists()
