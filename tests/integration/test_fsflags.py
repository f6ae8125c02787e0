"""The Orlov top-directory flag on the layer and volume roots (S1, E5, docs/decisions.md
D-storage-2): set on ext4 (the host's data roots are there), harmless elsewhere."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from dockyard.storage import fsflags
from dockyard.storage.overlay2 import Overlay2
from dockyard.volumes.local import LocalDriver


def _attrs(path: Path) -> str:
    out = subprocess.run(["lsattr", "-d", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def _fs_type(path: Path) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def test_layer_and_volume_roots_are_top_directories() -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        Overlay2(Path(tmp) / "overlay2")
        LocalDriver(Path(tmp) / "volumes")
        if _fs_type(Path(tmp)) != "ext2/ext3":  # stat's name for ext4 too
            # e.g. a container's overlayfs root: passed to the layer below, or refused
            if fsflags.mark_top_dir(Path(tmp) / "overlay2"):
                assert "T" in _attrs(Path(tmp) / "overlay2")
            return
        assert "T" in _attrs(Path(tmp) / "overlay2")
        assert "T" in _attrs(Path(tmp) / "volumes")
        assert "T" not in _attrs(Path(tmp)), "only dockyard's own directories are marked"
        assert fsflags.mark_top_dir(Path(tmp) / "overlay2")  # already set: still true


def test_unsupported_filesystem_is_left_alone() -> None:
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        before = os.stat(tmp)
        assert fsflags.mark_top_dir(Path(tmp)) is False
        assert os.stat(tmp).st_mode == before.st_mode
