"""storage/usage.py (S5): the size walk and the cache behind `system df` and `ps -s`."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dockyard.storage.usage import SizeCache, tree_size


def test_tree_size_is_dockerd_directory_size(tmp_path: Path) -> None:
    """Apparent sizes, directories and empty files skipped, hardlinks once, links not followed."""
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "f").write_bytes(b"x" * 1000)
    os.link(tmp_path / "d" / "f", tmp_path / "d" / "e" / "hard")
    (tmp_path / "empty").touch()
    (tmp_path / "link").symlink_to("/etc/passwd")
    (tmp_path / "d" / "e" / "g").write_bytes(b"y" * 7)
    assert tree_size(tmp_path) == 1000 + 7 + len("/etc/passwd")
    assert tree_size(tmp_path / "missing") == 0


class CountingWalk:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: str) -> int:
        self.calls += 1
        return tree_size(path)


def test_cache_reuses_a_size_only_under_the_same_stamp(tmp_path: Path) -> None:
    walk = CountingWalk()
    cache = SizeCache(walk)
    (tmp_path / "f").write_bytes(b"1234")
    assert cache.size_at(tmp_path, ("started", 1)) == 4
    assert cache.size_at(tmp_path, ("started", 1)) == 4 and walk.calls == 1
    (tmp_path / "g").write_bytes(b"12")  # a write no stamp shows: not seen yet
    assert cache.size_at(tmp_path, ("started", 1)) == 4 and walk.calls == 1
    assert cache.size_at(tmp_path, ("started", 2)) == 6  # the container ran again
    assert cache.size_at(tmp_path, None) == 6 and walk.calls == 3  # running: always walked
    (tmp_path / "g").write_bytes(b"1")
    cache.forget_all()  # e.g. `cp` into a stopped container
    assert cache.size_at(tmp_path, ("started", 2)) == 5


def test_locate_runs_only_on_a_miss(tmp_path: Path) -> None:
    """A container's layer dir costs a query to find: a hit must not pay it."""
    located: list[str] = []

    def locate() -> str:
        located.append("x")
        return str(tmp_path)

    cache = SizeCache()
    cache.size(("rw", "c1"), "s", locate)
    cache.size(("rw", "c1"), "s", locate)
    assert located == ["x"]


def test_cache_entries_expire(tmp_path: Path) -> None:
    """Writes from outside Docker's paths show up after `max_age` at the latest."""
    now = [100.0]
    walk = CountingWalk()
    cache = SizeCache(walk, max_age=60, clock=lambda: now[0])
    cache.size_at(tmp_path, "s")
    now[0] += 59
    cache.size_at(tmp_path, "s")
    assert walk.calls == 1
    now[0] += 2
    cache.size_at(tmp_path, "s")
    assert walk.calls == 2


def test_a_walk_overlapping_forget_all_is_not_stored(tmp_path: Path) -> None:
    """A df walking a tree while `cp` extracts into it must not cache the half-written size."""
    started, release = threading.Event(), threading.Event()

    def slow_walk(path: str) -> int:
        started.set()
        release.wait(5)
        return tree_size(path)

    cache = SizeCache(slow_walk)
    t = threading.Thread(target=cache.size_at, args=(tmp_path, "s"))
    t.start()
    started.wait(5)
    cache.forget_all()
    release.set()
    t.join()
    (tmp_path / "f").write_bytes(b"abc")
    assert cache.size_at(tmp_path, "s") == 3


def test_forget_one_key(tmp_path: Path) -> None:
    walk = CountingWalk()
    cache = SizeCache(walk)
    cache.size_at(tmp_path, ())
    cache.forget(str(tmp_path))  # a volume removed; its name may come back
    cache.size_at(tmp_path, ())
    assert walk.calls == 2
