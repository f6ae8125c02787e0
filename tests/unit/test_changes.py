"""Change classification and size accounting on plain directories (S3 diff, S5 ps -s).
Whiteouts and opaque dirs need root and are covered in tests/integration/test_layers.py."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.core.layers import Change
from dockyard.storage.changes import apparent_size, overlay_changes


def test_added_modified_and_parent_marked(tmp_path: Path) -> None:
    """S3: new file -> A (and its parent C); a file also in a lower -> C; an untouched dir copied
    up with identical attributes is not reported."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in (lower / "etc", lower / "tmp", lower / "same"):
        d.mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "passwd").write_text("changed")
    (upper / "tmp").mkdir()
    (upper / "tmp" / "x").write_text("new")
    (upper / "new-dir" / "sub").mkdir(parents=True)
    for d in ("etc", "tmp"):
        st = os.stat(lower / d)
        os.utime(upper / d, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert overlay_changes(upper, [lower]) == [
        Change("/etc/passwd", 0),
        Change("/new-dir", 1),
        Change("/new-dir/sub", 1),
        Change("/tmp", 0),
        Change("/tmp/x", 1),
    ]


def test_first_lower_wins(tmp_path: Path) -> None:
    """An entry present in any lower is a modification, absent from all an addition."""
    l1, l2, upper = tmp_path / "l1", tmp_path / "l2", tmp_path / "up"
    for d in (l1, l2, upper):
        d.mkdir()
    (l2 / "deep").write_text("x")
    (upper / "deep").write_text("y")
    (upper / "fresh").write_text("z")
    assert overlay_changes(upper, [l1, l2]) == [Change("/deep", 0), Change("/fresh", 1)]


def test_apparent_size_counts_hardlinks_once(tmp_path: Path) -> None:
    """S5: st_size of files and symlinks, directories skipped, each inode once."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 1000)
    os.link(tmp_path / "d" / "f", tmp_path / "d" / "g")
    (tmp_path / "s").symlink_to("d/f")
    (tmp_path / "empty").write_bytes(b"")
    assert apparent_size(tmp_path) == 1000 + len("d/f")
