"""The idle recycle's policy and monitor, and the handover across exec (#17, R1; D-scale-10)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from dockyard import handover, ownership, recycle
from dockyard.network.dns.names import NameTable
from dockyard.network.dns.server import DnsServer
from dockyard.services.events import Events

MIB = 1 << 20


def test_policy_wants_idleness_and_growth_over_both_bounds() -> None:
    p = recycle.Policy(idle=60, growth=0.10, floor=4 * MIB)
    settled = 60 * MIB
    assert not p.due(90 * MIB, settled, idle_for=59)  # not idle long enough
    assert p.due(90 * MIB, settled, idle_for=60)
    assert not p.due(66 * MIB, settled, idle_for=600)  # 10 % exactly: not over
    assert p.due(66 * MIB + 1, settled, idle_for=600)
    small = 20 * MIB  # 10 % is 2 MiB: the 4 MiB floor decides
    assert not p.due(small + 3 * MIB, small, idle_for=600)
    assert p.due(small + 4 * MIB + 1, small, idle_for=600)
    # started with containers that are gone since: no growth, but their pages (48 KiB each)
    assert not p.due(settled, settled, idle_for=600, gone=128)
    assert p.due(settled, settled, idle_for=600, gone=129)
    assert not recycle.Policy(idle=0).due(10**12, settled, idle_for=10**6)  # 0: never
    assert recycle.Policy(idle=1, growth=-1).due(settled - MIB, settled, idle_for=1)


class _Fake:
    def __init__(self) -> None:
        self.now = 0.0
        self.open = 0
        self.accepted = 0
        self.busy: str | None = None
        self.rss = 100 * MIB
        self.running = 0

    def monitor(self, idle: float = 10) -> recycle.Monitor:
        m = recycle.Monitor(recycle.Policy(idle=idle), lambda: (self.open, self.accepted),
                            lambda: self.busy, lambda: self.running, clock=lambda: self.now,
                            memory=lambda: self.rss)  # fmt: skip
        self.rss = 50 * MIB
        m.settle()
        self.rss = 100 * MIB
        return m


def test_monitor_counts_idleness_from_the_first_quiet_sample() -> None:
    f = _Fake()
    m = f.monitor()
    due, since, seen = m.check(None, 0)
    assert (due, since, seen) == (False, 0.0, 0)
    f.now = 9
    assert m.check(since, seen)[0] is False
    f.now = 10
    assert m.check(since, seen) == (True, 0.0, 0)


def test_a_client_a_brief_connection_or_a_busy_engine_restarts_the_count() -> None:
    f = _Fake()
    m = f.monitor()
    _, since, seen = m.check(None, 0)
    f.now, f.open = 20, 1  # a client connected now
    assert m.check(since, seen) == (False, None, 0)
    f.open, f.accepted = 0, 3  # three came and went between two samples
    assert m.check(0.0, 0) == (False, None, 3)
    f.busy = "an exec is running"
    assert m.check(0.0, 3) == (False, None, 3)
    f.busy = None
    assert m.check(0.0, 3) == (True, 0.0, 3)


def test_containers_it_started_with_and_lost_make_it_due() -> None:
    """A daemon that started with many containers (so it did not grow) and lost them."""
    f = _Fake()
    f.running = 1000
    m = f.monitor()
    assert m.started_with == 1000
    f.rss = m.settled  # no growth
    _, since, seen = m.check(None, 0)
    f.now = 10
    assert m.check(since, seen)[0] is False  # all still running
    f.running = 900  # 100 gone: 4.7 MiB, under 10 % of 50 MiB
    assert m.check(since, seen)[0] is False
    f.running = 0
    assert m.check(since, seen)[0] is True


def test_wait_due_freezes_in_the_step_of_its_last_check() -> None:
    f = _Fake()
    m = recycle.Monitor(recycle.Policy(idle=0.05, growth=-1), lambda: (f.open, f.accepted),
                        lambda: None, tick=0.01)  # fmt: skip
    frozen: list[tuple[int, int]] = []

    async def scenario() -> None:
        await asyncio.wait_for(m.wait_due(lambda: frozen.append((f.open, f.accepted))), 5)

    asyncio.run(scenario())
    assert frozen == [(0, 0)]


def test_handover_carries_descriptors_and_state_across_exec(tmp_path: Path) -> None:
    """A real execv: the successor reads the state, takes the socket (still connected) and
    closes what it did not take; nothing else crosses."""
    a, b = socket.socketpair()
    null = os.open("/dev/null", os.O_RDONLY)
    stray = os.dup2(null, 300)  # inheritable, never kept: must not cross
    os.close(null)
    successor = textwrap.dedent(f"""
        import os, socket, sys
        from dockyard import handover
        h = handover.received()
        assert handover.received() is h and "{handover.ENV}" not in os.environ
        fd = h.take("peer")
        assert not os.get_inheritable(fd)
        s = socket.socket(fileno=fd)
        s.sendall(h.state["greeting"].encode())
        left = h.names()
        h.close_rest()
        print(sorted(left), sorted(int(n) for n in os.listdir("/proc/self/fd")))
    """)
    parent = textwrap.dedent(f"""
        import os, sys
        from dockyard import handover
        h = handover.Handover()
        h.keep("peer", {b.fileno()})
        h.keep("extra", {b.fileno()})
        h.state["greeting"] = "hello"
        h.exec([sys.executable, "-c", {successor!r}])
    """)
    proc = subprocess.run([sys.executable, "-c", parent], pass_fds=(b.fileno(), stray),
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    b.close()
    assert proc.returncode == 0, proc.stderr
    assert a.recv(16) == b"hello"
    left, fds = proc.stdout.split("] ")
    assert left == "['extra'"
    assert stray not in eval(fds)  # noqa: S307 - our own child's list of ints
    a.close()
    os.close(stray)


def test_received_is_none_without_a_predecessor(monkeypatch: object) -> None:
    code = "from dockyard import handover; print(handover.received())"
    env = {k: v for k, v in os.environ.items() if k != handover.ENV}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "None"


def test_claims_handed_over_stay_held_and_are_not_taken_again(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    wanted = ownership.resources(bridge="dyh0", cgroup_parent="dy-h", exec_root=tmp_path / "e",
                                 socket=tmp_path / "s")  # fmt: skip
    first = ownership.claim(wanted, tmp_path / "data", owners)
    kept: dict[str, int] = {}
    first.hand_over(lambda name, fd: kept.setdefault(name, os.dup(fd)))
    inherited = dict(kept)
    # the same open files: the claim succeeds while the first still holds them
    again = ownership.claim(wanted, tmp_path / "data", owners, inherited=inherited)
    assert sorted(fd for fd, _ in again._held) == sorted(inherited.values())
    first.release()
    again.release()


def test_events_ring_and_finished_execs_survive_an_export() -> None:
    old = Events()
    old.publish("container", "create", "c1", {"name": "a"})
    old.publish("container", "start", "c1", {"name": "a"})
    new = Events()
    new.publish("daemon", "reload", "d", {})
    new.restore(old.export())
    assert [(e.action, e.attributes) for e in new.recent()] == [
        ("create", {"name": "a"}), ("start", {"name": "a"}), ("reload", {})]  # fmt: skip

    from dockyard.services.containers.execs import ExecInstance, Execs

    execs = Execs.__new__(Execs)
    execs._by_id = {
        "e1": ExecInstance("e1", "c1", {"Cmd": ["true"]}, exit_code=3, pid=7, detach_keys=b"\x10"),
        "e2": ExecInstance("e2", "c1", {"Cmd": ["sleep"]}, running=True),
    }
    assert execs.running() == 1
    exported = execs.export()
    assert [e["id"] for e in exported] == ["e1"]  # a running one is never handed over
    fresh = Execs.__new__(Execs)
    fresh._by_id = {}
    fresh.restore(exported)
    got = fresh.inspect("e1")
    assert (got["ExitCode"], got["Pid"], got["ContainerID"]) == (3, 7, "c1")
    assert got["DetachKeys"] == base64.b64encode(b"\x10").decode()


def test_dns_adopts_pairs_and_closes_halves_and_the_unserved() -> None:
    dns = DnsServer(NameTable())
    u1, t1, u2, t3 = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4))
    fds = {"c1/udp": u1.detach(), "c1/tcp": t1.detach(), "c2/udp": u2.detach(),
           "c3/tcp": t3.detach()}  # fmt: skip
    dns.adopt(fds)
    assert set(dns._inherited) == {"c1"}
    assert _closed(fds["c2/udp"]) and _closed(fds["c3/tcp"])  # a half pair is never served
    assert not _closed(fds["c1/udp"]) and not _closed(fds["c1/tcp"])
    dns.close_inherited()  # after start-up: those no container took
    assert _closed(fds["c1/udp"]) and _closed(fds["c1/tcp"])


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def test_a_shim_known_gone_is_not_waited_for(tmp_path: Path) -> None:
    """A recycle's successor hands a container whose shim exited in the window to its exit
    watcher with pid 0: its exit file is read at once, no pidfd (the pid may be reused)."""
    from dockyard.runtime import shim

    exit_file = tmp_path / "exit"
    exit_file.write_text("4\n2026-12-07T12:00:00.000000001Z\n")
    got = asyncio.run(asyncio.wait_for(shim.wait_exit(0, exit_file), 5))
    assert got == (4, "2026-12-07T12:00:00.000000001Z")
