"""Disk usage of directory trees (S5): the one size walk behind `ps -s` (SizeRw), `system df`
(containers' writable layers, volumes' UsageData) and `volume prune`'s reclaimed space.

`tree_size` is dockerd's directory.Size: apparent st_size of everything but directories and
empty files, each inode counted once, symlinks not followed.

`SizeCache` spares re-walking trees that cannot have changed. A caller passes a *stamp*: a value
that changes whenever the tree may have been written through Docker's own paths (for a stopped
container, its StartedAt; for a volume, the (id, StartedAt) of every container using it), or
None when the tree may be changing right now (a running user): then it is walked every time.
Writes that change no stamp (`cp` into a stopped container or a volume, populating a volume at
create) call `forget_all()`; a volume gaining or losing a user, or removed, calls `forget`.
Writes from outside Docker's paths (a host process editing a volume's `_data`) show up when
the entry expires: nothing is trusted for longer than `max_age` seconds. (Also checking the
root's mtime cost a stat per volume per call, 12% of a df, and still missed deeper edits.)

Lifecycle: one process-wide `SIZES` (keys are absolute paths or container ids, unique per data
root); `size(key, stamp, locate)` / `size_at(path, stamp)` -> `forget*()` after a write no
stamp shows. A walk that overlaps a `forget*()` is returned but not stored, so a half-extracted
tree is never cached.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Hashable

MAX_ENTRIES = 10_000  # removed containers' entries are dropped wholesale past this


def tree_size(root: str | os.PathLike[str]) -> int:
    """Apparent size of the tree at `root` (0 when it is missing)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [os.fspath(root)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        with it:
            for entry in it:
                try:
                    # d_type answers "directory?" without a stat; only files cost an lstat.
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed while we walked
                size = st.st_size
                if size == 0 or stat.S_ISDIR(st.st_mode):
                    continue
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += size
    return total


class SizeCache:
    def __init__(
        self,
        walk: Callable[[str], int] = tree_size,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._walk = walk
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[Hashable, int, float]] = {}
        self._generation = 0

    def size(self, key: Hashable, stamp: Hashable | None, locate: Callable[[], str]) -> int:
        """The size of the tree at `locate()`, kept under `key`: from the cache when `stamp`
        (not None) matches what was stored less than `max_age` ago. `locate` runs only on a
        miss (finding a container's layer dir costs a query)."""
        if stamp is None:
            return self._walk(locate())
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            generation = self._generation
        if hit is not None and hit[0] == stamp and now - hit[2] < self.max_age:
            return hit[1]
        size = self._walk(locate())
        with self._lock:
            if self._generation == generation:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (stamp, size, now)
        return size

    def size_at(self, path: str | os.PathLike[str], stamp: Hashable | None) -> int:
        """`size` keyed by the tree's path."""
        p = os.fspath(path)
        return self.size(p, stamp, lambda: p)

    def forget(self, key: Hashable) -> None:
        """The tree under `key` is gone or replaced (a volume removed, maybe re-created)."""
        with self._lock:
            self._entries.pop(key, None)
            self._generation += 1

    def forget_all(self) -> None:
        """A tree changed without changing any stamp: nothing cached is trusted any more."""
        with self._lock:
            self._entries.clear()
            self._generation += 1


SIZES = SizeCache()
