"""What a container changed (S3 `diff`) and how big a layer is (S5 `ps -s`, `system df`).

`overlay_changes` reads only the upper dir: every entry there is a change, classified against
the lower dirs (the init layer first, so Docker's init mount points such as /etc/hosts do not show
up unless the container itself changed them). Sizes are apparent sizes (st_size), directories
skipped, each hardlinked inode once: Docker's `directory.Size`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from dockyard.core.layers import Change
from dockyard.storage import usage

MODIFIED, ADDED, DELETED = 0, 1, 2
OPAQUE_XATTR = "trusted.overlay.opaque"


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | os.PathLike[str]) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(root: str, rel: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    with os.scandir(root + rel) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}"
        st = entry.stat(follow_symlinks=False)
        yield path, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, path)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _lower_stat(lowers: Sequence[str], path: str) -> os.stat_result | None:
    """The entry `path` resolves to in the stack of lowers (topmost first), None when absent or
    whited out."""
    for lower in lowers:
        st = _lstat(lower + path)
        if st is not None:
            return None if is_whiteout(st) else st
    return None


def _lower_children(lowers: Sequence[str], path: str) -> set[str]:
    """Names visible in the merged lower view of directory `path`."""
    visible: set[str] = set()
    hidden: set[str] = set()
    for lower in lowers:
        d = lower + path
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.name in visible or e.name in hidden:
                        continue
                    if is_whiteout(e.stat(follow_symlinks=False)):
                        hidden.add(e.name)
                    else:
                        visible.add(e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if is_opaque(d):
            break
    return visible


def _same_dir(a: os.stat_result, b: os.stat_result) -> bool:
    return (
        stat.S_ISDIR(b.st_mode)
        and a.st_mode == b.st_mode
        and a.st_size == b.st_size
        and int(a.st_mtime) == int(b.st_mtime)
    )


def overlay_changes(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """Docker's A/C/D list for an overlay upper dir over `lowers` (topmost first), sorted by path
    components (so a directory comes right before its contents)."""
    low = [str(p) for p in lowers]
    changes: dict[str, int] = {}
    changed_dirs: set[str] = set()

    def record(path: str, kind: int) -> None:
        if kind in (ADDED, DELETED):
            parent = path.rsplit("/", 1)[0] or "/"
            if parent != "/" and parent not in changed_dirs:
                changes.setdefault(parent, MODIFIED)
                changed_dirs.add(parent)
        changes[path] = kind

    for path, host, st in _walk(str(upper)):
        if is_whiteout(st):
            if _lower_stat(low, path) is not None:
                record(path, DELETED)
            continue
        lst = _lower_stat(low, path)
        if lst is None:
            kind = ADDED
        elif stat.S_ISDIR(st.st_mode) and _same_dir(st, lst) and not is_opaque(host):
            continue  # copied up only because something below it changed
        else:
            kind = MODIFIED
        if stat.S_ISDIR(st.st_mode):
            changed_dirs.add(path)
        record(path, kind)
        if lst is not None and stat.S_ISDIR(st.st_mode) and is_opaque(host):
            # An opaque dir hides everything the lowers had there.
            present = set(os.listdir(host))
            for name in sorted(_lower_children(low, path) - present):
                record(f"{path}/{name}", DELETED)
    return [Change(p, k) for p, k in sorted(changes.items(), key=lambda i: i[0].split("/"))]


def apparent_size(root: Path) -> int:
    """Sum of st_size of everything but directories under `root`, each inode once."""
    return usage.tree_size(root)
