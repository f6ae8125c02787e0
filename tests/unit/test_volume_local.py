"""S8: the local driver's directories, including the spare trees a create renames into place."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from dockyard.volumes import local


def _spares(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".spare-"))


def _wait_for_spares(root: Path, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(_spares(root)) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_spares(root)) >= n


def test_create_renames_a_spare_and_the_pool_is_refilled(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    d = local.LocalDriver(root)
    first = d.create("a")  # no spare yet: plain mkdirs, and the refiller starts
    assert first == root / "a" / "_data" and first.is_dir()
    _wait_for_spares(root, local.SPARES)
    before = set(_spares(root))
    data = d.create("b")
    assert data.is_dir() and not any(data.iterdir())
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(root / "b").st_mode) == 0o701
    assert len(before - set(_spares(root))) == 1  # one spare became "b"
    _wait_for_spares(root, local.SPARES)


def test_create_keeps_an_existing_volume_directory(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    d = local.LocalDriver(root)
    d.create("x")
    (root / "x" / "_data" / "keep").write_text("data")
    _wait_for_spares(root, local.SPARES)
    assert (d.create("x") / "keep").read_text() == "data"
    _wait_for_spares(root, local.SPARES)  # the spare that could not be used was not leaked
    assert len(_spares(root)) == local.SPARES


def test_spares_left_by_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    (root / ".spare-deadbeef" / "_data").mkdir(parents=True)
    (root / "real" / "_data").mkdir(parents=True)
    local.LocalDriver(root)
    assert sorted(p.name for p in root.iterdir()) == ["real"]
