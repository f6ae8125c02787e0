"""Host-wide ownership claims (R1): all or nothing, the holder named, released on exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard import ownership


def _wanted(tmp: Path, bridge: str = "dyx0") -> list[ownership.Resource]:
    return ownership.resources(bridge=bridge, cgroup_parent="dockyard-x", exec_root=tmp / "exec",
                               socket=tmp / "d.sock")  # fmt: skip


def test_a_second_claim_is_refused_naming_the_holder(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    first = ownership.claim(_wanted(tmp_path), tmp_path / "data-a", owners)
    with pytest.raises(ownership.Held) as e:
        ownership.claim(_wanted(tmp_path), tmp_path / "data-b", owners)
    assert str(e.value).startswith(
        f"bridge dyx0 is held by another dockyard daemon (pid {os.getpid()}, "
        f"data root {tmp_path / 'data-a'})"
    )
    first.release()
    ownership.claim(_wanted(tmp_path), tmp_path / "data-b", owners).release()


def test_claims_are_all_or_nothing(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    # another daemon holds only the socket; a claim of everything fails on it ...
    socket_only = [r for r in _wanted(tmp_path) if r.kind == "socket"]
    held = ownership.claim(socket_only, tmp_path / "a", owners)
    with pytest.raises(ownership.Held, match="^socket "):
        ownership.claim(_wanted(tmp_path), tmp_path / "b", owners)
    # ... and lets go of the bridge it had taken before that
    ownership.claim(_wanted(tmp_path, "dyx0")[:1], tmp_path / "c", owners).release()
    held.release()


def test_a_dead_holder_holds_nothing(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    code = (
        "import sys, os; from pathlib import Path; from dockyard import ownership; "
        f"ownership.claim(ownership.resources(bridge='dyx0', cgroup_parent=None, "
        f"exec_root=Path({str(tmp_path / 'exec')!r}), socket=Path({str(tmp_path / 'd.sock')!r})),"
        f" Path('/x'), Path({str(owners)!r})); os.kill(os.getpid(), 9)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    ownership.claim(_wanted(tmp_path), tmp_path / "data", owners).release()


def test_systemd_parent_and_no_bridge_are_not_claimed(tmp_path: Path) -> None:
    kinds = [r.kind for r in ownership.resources(bridge=None, cgroup_parent=None,
                                                 exec_root=tmp_path, socket=tmp_path / "s")]  # fmt: skip
    assert kinds == ["exec root", "socket"]
    odd = ownership.Resource("bridge", "../../etc/x y")
    assert "/" not in odd.file and " " not in odd.file


def test_release_removes_the_lock_files_and_they_can_be_claimed_again(tmp_path: Path) -> None:
    """#17: lock files do not pile up in the owners directory (2,399 had, from test daemons)."""
    wanted = [ownership.Resource("bridge", "dyx0"), ownership.Resource("socket", "/s")]
    first = ownership.claim(wanted, tmp_path / "a", owners=tmp_path)
    assert len(list(tmp_path.glob("*.lock"))) == 2
    first.release()
    assert list(tmp_path.glob("*.lock")) == []
    again = ownership.claim(wanted, tmp_path / "b", owners=tmp_path)
    assert len(list(tmp_path.glob("*.lock"))) == 2
    again.release()


def test_a_file_unlinked_or_replaced_behind_an_fd_is_not_the_lock(tmp_path: Path) -> None:
    """What a claimer that opened a lock file just before a releaser unlinked it checks."""
    path = tmp_path / "x.lock"
    path.write_text("")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert ownership._is_linked(fd, path)
        path.unlink()
        assert not ownership._is_linked(fd, path)
        path.write_text("")  # a new file under the name: a new inode
        assert not ownership._is_linked(fd, path)
    finally:
        os.close(fd)
