"""E4 on cgroup v2: the OOM watch keeps a container's oom_kill count from inotify events, so it
is known after systemd has removed the scope (here a plain file stands in for memory.events)."""

from __future__ import annotations

from pathlib import Path

from dockyard.runtime.oomwatch import OomWatch, oom_kills

EVENTS = "low 0\nhigh 0\nmax {max}\noom {oom}\noom_kill {kill}\n"


def test_the_count_survives_the_cgroup(tmp_path: Path) -> None:
    events = tmp_path / "memory.events"
    events.write_text(EVENTS.format(max=0, oom=0, kill=0))
    watch = OomWatch()
    watch.watch("c1", tmp_path, None)
    events.write_text(EVENTS.format(max=12, oom=1, kill=1))  # the kernel's modification
    watch._drain()  # what the daemon's loop does when the descriptor is readable
    events.unlink()  # systemd removes the scope with the container's last process
    assert watch.kills("c1") == 1
    assert watch.kills("c1") == 0  # forgotten once the exit is recorded


def test_no_memory_events_no_watch(tmp_path: Path) -> None:
    watch = OomWatch()
    watch.watch("v1", tmp_path, None)  # a v1 cgroup has no memory.events
    assert watch.kills("v1") == 0 and oom_kills(tmp_path / "memory.events") is None
