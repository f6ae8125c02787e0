"""Issue 2 speed work, pure logic (E4, S5): runc's on-disk state read directly, the SizeRw
cache key, the listing cache of parsed records, and the heap tuning."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from dockyard import heap
from dockyard.core.container import ContainerRecord
from dockyard.runtime import runcstate
from dockyard.services.containers import status
from dockyard.state import containers as containers_state
from dockyard.state.containers import ContainerRepo
from dockyard.state.db import Database


def _state(tmp: Path, pid: int, start: int, cgroups: dict[str, str]) -> dict[str, object]:
    return {"init_process_pid": pid, "init_process_start": start, "cgroup_paths": cgroups}


def _my_start_time() -> int:
    stat = Path(f"/proc/{os.getpid()}/stat").read_bytes()
    return int(stat.rsplit(b")", 1)[1].split()[19])


def test_init_alive_checks_pid_and_start_time(tmp_path: Path) -> None:
    """E4: a live init is recognised; a reused pid (other start time) or a gone pid is not."""
    me = os.getpid()
    assert runcstate.init_alive(_state(tmp_path, me, _my_start_time(), {}))
    assert not runcstate.init_alive(_state(tmp_path, me, _my_start_time() + 1, {}))
    assert not runcstate.init_alive(_state(tmp_path, 2**22 - 1, 1, {}))
    assert not runcstate.init_alive(_state(tmp_path, 0, 0, {}))


def test_remove_stopped_removes_cgroups_and_state_dir(tmp_path: Path) -> None:
    """E4: what `runc delete` does for an exited container: cgroup dirs, then the state dir."""
    root = tmp_path / "runc"
    (root / "c1").mkdir(parents=True)
    (root / "c1" / "state.json").write_text("{}")
    cg = {"memory": str(tmp_path / "memory" / "c1"), "pids": str(tmp_path / "pids" / "c1")}
    for p in cg.values():
        Path(p).mkdir(parents=True)
    assert runcstate.remove_stopped(root, "c1", _state(tmp_path, 2**22 - 1, 1, cg))
    assert not (root / "c1").exists()
    assert not any(Path(p).exists() for p in cg.values())


def test_remove_stopped_refuses_busy_cgroup_or_live_init(tmp_path: Path) -> None:
    """E4: a cgroup that cannot go (here: not empty) or a live init leaves the work to runc."""
    root = tmp_path / "runc"
    (root / "c1").mkdir(parents=True)
    busy = tmp_path / "pids" / "c1"
    (busy / "child").mkdir(parents=True)
    assert not runcstate.remove_stopped(
        root, "c1", _state(tmp_path, 2**22 - 1, 1, {"pids": str(busy)})
    )
    assert (root / "c1").exists()
    live = _state(tmp_path, os.getpid(), _my_start_time(), {})
    assert not runcstate.remove_stopped(root, "c1", live)
    assert (root / "c1").exists()


def test_oom_kills_reads_v1_and_v2_counters(tmp_path: Path) -> None:
    """E4: OOMKilled comes from memory.oom_control (v1) or memory.events (v2)."""
    v1 = tmp_path / "memory"
    v1.mkdir()
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    v2 = tmp_path / "unified"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert runcstate.oom_kills({"cgroup_paths": {"memory": str(v1)}}) == 2
    assert runcstate.oom_kills({"cgroup_paths": {"": str(v2)}}) == 1
    assert runcstate.oom_kills({"cgroup_paths": {"memory": str(tmp_path / "gone")}}) == 0
    assert runcstate.oom_kills({}) == 0


def test_release_created_reads_fifo_to_eof_and_removes_it(tmp_path: Path) -> None:
    """E4: the fast `runc start`: a writer (runc init's role) is released, the fifo removed."""
    root = tmp_path / "runc"
    (root / "c1").mkdir(parents=True)
    fifo = root / "c1" / runcstate.EXEC_FIFO
    os.mkfifo(fifo)
    (root / "c1" / "state.json").write_text(
        json.dumps({"init_process_pid": os.getpid(), "init_process_start": _my_start_time()})
    )
    released = threading.Event()

    def init() -> None:
        with open(fifo, "wb") as f:  # blocks until the reader opens, like runc init
            f.write(b"0")
        released.set()

    t = threading.Thread(target=init)
    t.start()
    assert runcstate.release_created(root, "c1", timeout=5)
    t.join(5)
    assert released.is_set()
    assert not fifo.exists()
    assert not runcstate.release_created(root, "c1")  # no fifo: not "created" any more


def _rec(status_: str, started: str = "s", finished: str = "f") -> ContainerRecord:
    doc = {"State": {"Status": status_, "StartedAt": started, "FinishedAt": finished}}
    return ContainerRecord("c" * 64, "n", "2026-01-01T00:00:00Z", "sha256:x", doc)


def test_size_stamp_only_for_containers_that_cannot_write() -> None:
    """S5: running/paused/restarting/removing containers are walked every time; a stopped
    one is keyed by its last start and finish, which the next start changes."""
    for st in ("running", "paused", "restarting", "removing"):
        assert status.size_stamp(_rec(st)) is None
    assert status.size_stamp(_rec("exited", "a", "b")) == ("a", "b")
    assert status.size_stamp(_rec("exited", "a2", "b")) != status.size_stamp(_rec("exited"))
    assert status.size_stamp(_rec("created")) is not None


def test_all_views_reuses_parsed_records_until_the_text_changes(tmp_path: Path) -> None:
    """S5: `ps` re-parses only records whose stored JSON changed (or that were renamed)."""
    db = Database.open(tmp_path / "db.sqlite", schemas=[containers_state.SCHEMA])
    repo = ContainerRepo(db)
    a, b = _rec("running"), _rec("exited")
    b.id = "b" * 64
    b.name = "m"
    with db.tx() as c:
        repo.insert(c, a)
        repo.insert(c, b)
    first = {r.id: r for r in repo.all_views()}
    second = {r.id: r for r in repo.all_views()}
    assert first[a.id] is second[a.id] and first[b.id] is second[b.id]
    changed = repo.get(a.id)
    assert changed is not None
    changed.state["Status"] = "exited"
    repo.save(changed)
    third = {r.id: r for r in repo.all_views()}
    assert third[a.id] is not first[a.id] and third[a.id].state["Status"] == "exited"
    assert third[b.id] is first[b.id]
    renamed = repo.get(b.id)
    assert renamed is not None
    renamed.name = "other"
    repo.save(renamed)
    assert {r.id: r for r in repo.all_views()}[b.id].name == "other"
    repo.delete(a.id)
    assert [r.id for r in repo.all_views()] == [b.id]
    db.close()


def test_all_views_reads_nothing_while_no_record_was_written(tmp_path: Path) -> None:
    """#17 (R1, D-scale-9): `ps` again with no record written since is answered from the last
    listing, no query; an insert, a save or a delete (each bumps the store's generation)
    makes the next listing read the table again; callers get a list of their own."""
    db = Database.open(tmp_path / "db.sqlite", schemas=[containers_state.SCHEMA])
    repo = ContainerRepo(db)
    a, b = _rec("running"), _rec("exited")
    b.id, b.name = "b" * 64, "m"
    with db.tx() as c:
        repo.insert(c, a)
    reads: list[str] = []
    query = db.query

    def counted(sql: str, params: Any = ()) -> Any:
        reads.append(sql)
        return query(sql, params)

    db.query = counted  # type: ignore[method-assign]
    first = repo.all_views()
    first.clear()  # a caller's own list: the kept listing is unharmed
    assert [r.id for r in repo.all_views()] == [a.id] and len(reads) == 1
    with db.tx() as c:
        repo.insert(c, b)
    assert {r.id for r in repo.all_views()} == {a.id, b.id} and len(reads) == 2
    changed = repo.get(a.id)
    assert changed is not None
    changed.state["Status"] = "exited"
    repo.save(changed)
    assert {r.id: r for r in repo.all_views()}[a.id].state["Status"] == "exited"
    assert len(reads) == 3
    repo.delete(b.id)
    assert [r.id for r in repo.all_views()] == [a.id] and len(reads) == 4
    assert [r.id for r in repo.all_views()] == [a.id] and len(reads) == 4
    db.close()


def test_view_resolves_as_resolve_and_shares_one_parsed_copy(tmp_path: Path) -> None:
    """#17, E6: `stats` reads records as views: by id, name or unique prefix as resolve()
    finds them, the same object while the stored text is unchanged, a new one after a save,
    the one a listing parsed; errors as resolve()'s."""
    import pytest

    from dockyard import errors

    db = Database.open(tmp_path / "db.sqlite", schemas=[containers_state.SCHEMA])
    repo = ContainerRepo(db)
    a, b = _rec("running"), _rec("exited")
    a.id, b.id, b.name = "ab" + "1" * 62, "ac" + "2" * 62, "m"
    with db.tx() as c:
        repo.insert(c, a)
        repo.insert(c, b)
    first = repo.view(a.id)
    assert first.id == a.id and repo.view(a.name) is first and repo.view("ab") is first
    assert repo.view("/" + a.name) is first and repo.resolve(a.id) is not first
    assert {r.id: r for r in repo.all_views()}[a.id] is first  # one cache for both
    changed = repo.get(a.id)
    assert changed is not None
    changed.state["Status"] = "exited"
    repo.save(changed)
    again = repo.view(a.id)
    assert again is not first and again.state["Status"] == "exited"
    with pytest.raises(errors.InvalidParameter, match="multiple IDs found"):
        repo.view("a")
    with pytest.raises(errors.NotFound):
        repo.view("zz")
    repo.delete(a.id)
    with pytest.raises(errors.NotFound):
        repo.view(a.id)
    db.close()


def test_heap_tuning_is_harmless_to_call() -> None:
    """E1: the daemon's glibc tuning calls succeed (or are no-ops) and can be repeated."""
    assert isinstance(heap.limit_arenas(), bool)
    assert isinstance(heap.trim(), bool)
    assert isinstance(heap.trim(), bool)


def test_lazy_aiohttp_serves_without_the_client_half() -> None:
    """E1: the daemon's API modules import aiohttp's server side only; the first use of a
    client name loads the real package, complete."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from dockyard.api import lazyaiohttp\n"
        "assert lazyaiohttp.install()\n"
        "import dockyard.api.server, dockyard.engine\n"
        "assert 'aiohttp.client' not in sys.modules, 'client imported'\n"
        "import aiohttp\n"
        "assert aiohttp.__version__\n"
        "assert aiohttp.ClientSession.__name__ == 'ClientSession'\n"
        "assert aiohttp.web.Application and 'aiohttp.client' in sys.modules\n"
        "assert not lazyaiohttp.install()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
