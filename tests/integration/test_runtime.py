"""E4: the runtime layer against the real kernel: dockyard-shim + runc + build_spec.

Each test builds a busybox rootfs in tmp_path, its own runc root and a unique cgroup path, and
its finalizer deletes the container, checks no process is left and removes the cgroups."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.runtime.runc import Runc
from dockyard.runtime.shim import RuntimeStartError, Shim, ShimHandle, connect, wait_exit
from dockyard.runtime.shimbuild import ensure_shim
from dockyard.runtime.spec import build_spec
from dockyard.storage import mount

pytestmark = pytest.mark.integration

BUSYBOX = "/usr/bin/busybox"
APPLETS = ["sh", "echo", "cat", "sleep", "true", "false", "id", "ls", "stty", "printf"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; it only waits for its (dead) parent to be reaped.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Box:
    """One container under test: bundle, rootfs, runc root and the shim's files."""

    def __init__(self, tmp: Path, shim_bin: Path) -> None:
        self.id = "dyt-" + uuid.uuid4().hex[:12]
        self.cgroup = f"/dockyard-test-{os.getpid()}-{self.id}"
        self.tmp = tmp
        self.shim_bin = shim_bin
        self.bundle = tmp / "bundle"
        self.rootfs = self.bundle / "rootfs"
        (self.rootfs / "bin").mkdir(parents=True)
        (self.rootfs / "etc").mkdir()
        (self.rootfs / "tmp").mkdir()
        shutil.copy(BUSYBOX, self.rootfs / "bin" / "busybox")
        for applet in APPLETS:
            (self.rootfs / "bin" / applet).symlink_to("busybox")
        (self.rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        self.runc_root = tmp / "runc"
        self.runc = Runc(self.runc_root)
        self.log = tmp / "ctr-json.log"
        self.exit_file = tmp / "exit"
        self.sock = tmp / "attach.sock"
        self.handle: ShimHandle | None = None
        self.extra_pids: list[int] = []

    def write_spec(
        self, args: list[str], tty: bool = False, stdin: bool = False
    ) -> dict[str, object]:
        spec = build_spec(
            config={"Tty": tty, "OpenStdin": stdin, "Hostname": "box"},
            host_config={},
            rootfs=str(self.rootfs),
            mounts=[],
            netns_path=None,
            cgroups_path=self.cgroup,
            user=(0, 0, []),
            process_args=args,
        )
        (self.bundle / "config.json").write_text(json.dumps(spec))
        return spec

    def spawn(
        self, args: list[str], *, tty: bool = False, stdin: bool = False, once: bool = False
    ) -> ShimHandle:
        self.write_spec(args, tty=tty, stdin=stdin)
        self.handle = Shim.spawn(
            self.shim_bin,
            self.id,
            self.bundle,
            "/usr/sbin/runc",
            self.runc_root,
            self.log,
            self.exit_file,
            self.sock,
            tty=tty,
            stdin=stdin,
            stdin_once=once,
        )
        return self.handle

    def wait(self, timeout: float = 20) -> tuple[int, str]:
        assert self.handle is not None
        return asyncio.run(asyncio.wait_for(wait_exit(self.handle.pid, self.exit_file), timeout))

    def log_entries(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def cleanup(self) -> None:
        pids = list(self.extra_pids)
        if self.handle is not None:
            pids += [self.handle.pid, self.handle.container_pid]
        with contextlib.suppress(errors.System):
            self.runc.kill(self.id, signal.SIGKILL, all=True)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.runc.delete(self.id, force=True)
        leftovers = [p for p in pids if _alive(p)]
        for p in leftovers:
            os.kill(p, signal.SIGKILL)
        name = self.cgroup.strip("/")  # below each v1 hierarchy, or the v2 root itself
        cgroups = [*Path("/sys/fs/cgroup").glob(f"*/{name}"), *Path("/sys/fs/cgroup").glob(name)]
        for cg in cgroups:
            cg.rmdir()
        assert not leftovers, f"processes left behind: {leftovers}"
        assert not cgroups, f"cgroups left behind: {cgroups}"
        assert not self.sock.exists()


@pytest.fixture(scope="module")
def shim_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_shim(tmp_path_factory.mktemp("bin"))


@pytest.fixture
def box(tmp_path: Path, shim_bin: Path) -> Iterator[Box]:
    b = Box(tmp_path, shim_bin)
    yield b
    b.cleanup()


def test_ensure_shim_is_cached(shim_bin: Path) -> None:
    """E4: the shim is compiled once per source hash."""
    assert shim_bin.name.startswith("dockyard-shim-") and os.access(shim_bin, os.X_OK)
    mtime = shim_bin.stat().st_mtime_ns
    assert ensure_shim(shim_bin.parent) == shim_bin
    assert shim_bin.stat().st_mtime_ns == mtime


def test_output_lands_in_json_log(box: Box) -> None:
    """E4: stdout/stderr lines go to the json-file log with their stream; a partial last line
    is flushed at exit without a newline."""
    h = box.spawn(["sh", "-c", "echo out1; echo err1 >&2; echo '<&>'; printf partial"])
    assert h.container_pid > 0 and int((box.bundle / "shim.pid").read_text()) == h.pid
    box.runc.start(box.id)
    code, finished = box.wait()
    assert code == 0 and finished.endswith("Z")
    entries = box.log_entries()
    by_stream = {(e["stream"], e["log"]) for e in entries}
    assert by_stream == {
        ("stdout", "out1\n"),
        ("stderr", "err1\n"),
        ("stdout", "<&>\n"),
        ("stdout", "partial"),
    }
    assert all(e["time"].endswith("Z") and e["time"][:2] == "20" for e in entries)
    assert "\\u003c\\u0026\\u003e" in box.log.read_text()  # escaped like Docker's json-file


@pytest.mark.parametrize(("script", "expected"), [("true", 0), ("exit 3", 3), ("false", 1)])
def test_exit_codes(box: Box, script: str, expected: int) -> None:
    """E4: exit codes, with 128+signal for a signal death (Docker's convention)."""
    box.spawn(["sh", "-c", script])
    box.runc.start(box.id)
    assert box.wait()[0] == expected


def test_sigkill_from_runc_gives_137(box: Box) -> None:
    """E4: `docker kill` of a running container records 137."""
    box.spawn(["sleep", "100"])
    box.runc.start(box.id)
    state = box.runc.state(box.id)
    assert state is not None and state["status"] == "running"
    box.runc.kill(box.id, signal.SIGKILL)
    assert box.wait()[0] == 137


def test_attach_stdin_cat_echoes(box: Box) -> None:
    """E4: an attach client connected between create and start gets all output, its stdin
    reaches the container, and closing stdin ends `cat`."""

    async def scenario() -> list[tuple[int, bytes]]:
        conn = await connect(box.sock)
        await asyncio.to_thread(box.runc.start, box.id)
        await conn.write_stdin(b"hello\n")
        frames = [await conn.read_frame()]
        await conn.close_stdin()
        while (f := await conn.read_frame()) is not None:
            frames.append(f)
        await conn.close()
        return [f for f in frames if f is not None]

    box.spawn(["sh", "-c", "echo ready >&2; cat"], stdin=True)
    frames = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert (1, b"hello\n") in frames and (2, b"ready\n") in frames
    assert box.wait()[0] == 0
    assert {"stream": "stdout", "log": "hello\n"}.items() <= next(
        e for e in box.log_entries() if e["log"] == "hello\n"
    ).items()


def test_stdin_once_closes_stdin_when_client_leaves(box: Box) -> None:
    """E4: with --stdin-once the container's stdin closes when the first stdin client goes."""

    async def scenario() -> None:
        conn = await connect(box.sock)
        await asyncio.to_thread(box.runc.start, box.id)
        await conn.write_stdin(b"x\n")
        assert await conn.read_frame() == (1, b"x\n")
        await conn.close()

    box.spawn(["cat"], stdin=True, once=True)
    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert box.wait()[0] == 0


def test_tty_mode_and_resize(box: Box) -> None:
    """E4: --tty gives the container a pty (output on stream 1, \\r\\n kept in the log) and
    resize frames reach it (TIOCSWINSZ)."""

    async def scenario() -> bytes:
        conn = await connect(box.sock)
        await asyncio.to_thread(box.runc.start, box.id)
        await conn.resize(33, 101)
        await conn.write_stdin(b"stty size; exit 7\n")
        out = b""
        while (f := await conn.read_frame()) is not None:
            assert f[0] == 1
            out += f[1]
        await conn.close()
        return out

    box.spawn(["sh"], tty=True, stdin=True)
    out = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert b"33 101\r\n" in out
    assert box.wait()[0] == 7
    entries = box.log_entries()
    assert {e["stream"] for e in entries} == {"stdout"}
    assert any(e["log"] == "33 101\r\n" for e in entries)


def test_shim_survives_its_spawner(box: Box) -> None:
    """E4 (live-restore): the shim keeps the container when the process that spawned it exits;
    the exit file appears later and wait_exit works on a non-child via pidfd."""
    box.write_spec(["sh", "-c", "sleep 1; echo late; exit 4"])
    script = f"""
import json, sys
from pathlib import Path
from dockyard.runtime.shim import Shim
from dockyard import errors
from dockyard.runtime.runc import Runc
h = Shim.spawn(Path({str(box.shim_bin)!r}), {box.id!r}, Path({str(box.bundle)!r}), "/usr/sbin/runc",
               Path({str(box.runc_root)!r}), Path({str(box.log)!r}), Path({str(box.exit_file)!r}),
               Path({str(box.sock)!r}), tty=False, stdin=False, stdin_once=False)
Runc(Path({str(box.runc_root)!r})).start({box.id!r})
print(json.dumps([h.pid, h.container_pid]))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    shim_pid, ctr_pid = json.loads(out.stdout)
    box.handle = ShimHandle(shim_pid, ctr_pid)
    assert _alive(shim_pid) and _alive(ctr_pid)
    assert not box.exit_file.exists()
    assert box.wait()[0] == 4
    assert [e["log"] for e in box.log_entries()] == ["late\n"]


def test_exec_mode(box: Box) -> None:
    """E4: exec: the shim waits for the first client, then runs `runc exec`; output goes to
    the client, the exit code to the exit file."""
    box.spawn(["sleep", "100"])
    box.runc.start(box.id)
    process = box.write_spec(["sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"])["process"]
    (box.tmp / "process.json").write_text(json.dumps(process))
    exec_exit = box.tmp / "exec.exit"
    exec_sock = box.tmp / "exec.sock"

    async def scenario() -> tuple[int, list[tuple[int, bytes]], int]:
        ex = Shim.spawn_exec(
            box.shim_bin,
            box.id,
            box.bundle,
            "/usr/sbin/runc",
            box.runc_root,
            box.tmp / "process.json",
            exec_exit,
            exec_sock,
            tty=False,
            stdin=False,
        )
        box.extra_pids.append(ex.pid)
        conn = await connect(exec_sock)
        pid = await ex.started()
        assert ex.container_pid == pid
        frames = []
        while (f := await conn.read_frame()) is not None:
            frames.append(f)
        await conn.close()
        code, _ = await wait_exit(ex.pid, exec_exit)
        return pid, frames, code

    pid, frames, code = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert pid > 0 and code == 5
    assert (1, b"exec-out\n") in frames and (2, b"exec-err\n") in frames
    assert not box.log.read_text()  # exec output is not the container's log


def test_exec_no_wait(box: Box) -> None:
    """E4: `exec -d` (--no-wait) starts at once, with no client."""
    box.spawn(["sleep", "100"])
    box.runc.start(box.id)
    process = box.write_spec(["sh", "-c", "echo hi > /tmp/done"])["process"]
    (box.tmp / "process.json").write_text(json.dumps(process))
    ex = Shim.spawn_exec(
        box.shim_bin,
        box.id,
        box.bundle,
        "/usr/sbin/runc",
        box.runc_root,
        box.tmp / "process.json",
        box.tmp / "exec.exit",
        box.tmp / "exec.sock",
        box.tmp / "exec.pid",
        tty=False,
        stdin=False,
        no_wait=True,
    )
    box.extra_pids.append(ex.pid)
    assert ex.wait_started() > 0
    assert asyncio.run(asyncio.wait_for(wait_exit(ex.pid, box.tmp / "exec.exit"), 20))[0] == 0
    assert (box.rootfs / "tmp" / "done").read_text() == "hi\n"


def test_runc_creates_in_a_mount_table_without_the_private_trees(box: Box) -> None:
    """R1 (#17, D-scale-4): `runc create` runs in a private copy of the mount table from which
    the daemon's trees (held as mounts of their own) are dropped, so it does not copy, scan and
    detach two mounts per running container; the spec's own paths below them are put back.
    The runtime here is a wrapper that records its mount table, then execs runc."""
    tree = box.bundle.parent / "tree"
    root, other = tree / "root", tree / "other"
    dump = box.bundle.parent / "mountinfo"
    wrapper = box.bundle.parent / "runtime"
    wrapper.write_text(f'#!/bin/sh\ncat /proc/self/mountinfo > {dump}\nexec /usr/sbin/runc "$@"\n')
    wrapper.chmod(0o755)
    tree.mkdir()
    assert mount.hold(tree)
    try:
        root.mkdir()
        other.mkdir()
        mount.mount(box.rootfs, root, None, mount.MS_BIND)  # this container's rootfs
        mount.mount("tmpfs", other, "tmpfs")  # another container's
        spec = box.write_spec(["echo", "from the kept rootfs"])
        spec["root"] = {"path": str(root), "readonly": False}
        (box.bundle / "config.json").write_text(json.dumps(spec))
        box.handle = Shim.spawn(box.shim_bin, box.id, box.bundle, str(wrapper), box.runc_root,
                                box.log, box.exit_file, box.sock, tty=False, stdin=False,
                                stdin_once=False, private_trees=[tree], keep=[str(root)])  # fmt: skip
        box.runc.start(box.id)
        assert box.wait()[0] == 0
        assert [e["log"] for e in box.log_entries()] == ["from the kept rootfs\n"]
        seen = [line.split()[4] for line in dump.read_text().splitlines()]
        assert [p for p in seen if p.startswith(str(tree))] == [str(root)]
        assert mount.mounts_under(tree) == [str(tree), str(root), str(other)]  # the host's: as was
    finally:
        for target in (other, root):
            if mount.is_mounted(target):
                mount.unmount(target)
        mount.release(tree)
    assert mount.mounts_under(tree) == []


def test_missing_binary_reports_runc_error(box: Box) -> None:
    """E4: a missing executable fails at create with runc's message, and nothing is left."""
    with pytest.raises(RuntimeStartError) as info:
        box.spawn(["nope"])
    assert 'exec: "nope": executable file not found in $PATH' in info.value.message
    box.runc.delete(box.id, force=True)


def test_shim_rss_is_small(box: Box) -> None:
    """E4: the monitor stays near conmon's footprint (<= 2.5 MiB RSS)."""
    h = box.spawn(["sleep", "100"])
    box.runc.start(box.id)
    status = Path(f"/proc/{h.pid}/status").read_text()
    rss_kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
    print(f"dockyard-shim VmRSS: {rss_kb} kB")
    assert rss_kb <= 2560
    # PID 1 ignores SIGTERM without a handler (as `docker stop` sees with sleep): SIGKILL.
    box.runc.kill(box.id, signal.SIGKILL)
    assert box.wait()[0] == 137


def test_long_line_is_split_at_16k(box: Box) -> None:
    """E4: like Docker's json-file, a line longer than 16 KiB is logged in pieces; only the
    last piece carries the newline."""
    box.spawn(
        ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do printf 0123456789; i=$((i+1)); done; echo"]
    )
    box.runc.start(box.id)
    assert box.wait()[0] == 0
    logs = [e["log"] for e in box.log_entries()]
    assert [len(x) for x in logs] == [16384, 20001 - 16384]
    assert "".join(logs) == "0123456789" * 2000 + "\n"


def test_slow_client_never_blocks_output(box: Box) -> None:
    """E4: an attach client that stops reading is dropped past 1 MiB; the container is not
    blocked and the log stays complete."""

    async def scenario() -> None:
        conn = await connect(box.sock)  # never reads
        await asyncio.to_thread(box.runc.start, box.id)
        code, _ = await wait_exit(box.handle.pid if box.handle else 0, box.exit_file)
        assert code == 0
        await conn.close()

    # 4 MiB of output in 64 KiB lines.
    script = "i=0; while [ $i -lt 64 ]; do cat /bin/busybox | head -c 65535 | tr -c 'a' 'a'; echo; i=$((i+1)); done"
    for applet in ("head", "tr"):
        (box.rootfs / "bin" / applet).symlink_to("busybox")
    box.spawn(["sh", "-c", script])
    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sum(len(e["log"]) for e in box.log_entries()) == 64 * 65536


def test_delete_before_start_ends_the_shim(box: Box) -> None:
    """E4: `rm` of a created-but-never-started container: runc delete kills the waiting init
    and the shim records it and exits."""
    h = box.spawn(["true"])
    box.runc.delete(box.id, force=True)
    code, _ = box.wait()
    assert code == 137 and not _alive(h.pid)
    assert box.runc.state(box.id) is None


def test_no_fd_leaks_into_the_container(box: Box) -> None:
    """E4: the container sees only its stdio; the shim's sockets, log and sync pipe stay
    close-on-exec."""
    box.spawn(["ls", "/proc/self/fd"], stdin=True)
    box.runc.start(box.id)
    assert box.wait()[0] == 0
    # fd 3 is the directory ls itself opened to list it.
    assert [e["log"] for e in box.log_entries()] == ["0\n", "1\n", "2\n", "3\n"]


def test_exec_with_tty(box: Box) -> None:
    """E4: `exec -it`: the exec'd shell gets a pty, stdin and resize."""
    box.spawn(["sleep", "100"])
    box.runc.start(box.id)
    process = box.write_spec(["sh"], tty=True)["process"]
    (box.tmp / "process.json").write_text(json.dumps(process))

    async def scenario() -> tuple[bytes, int]:
        ex = Shim.spawn_exec(
            box.shim_bin,
            box.id,
            box.bundle,
            "/usr/sbin/runc",
            box.runc_root,
            box.tmp / "process.json",
            box.tmp / "exec.exit",
            box.tmp / "exec.sock",
            tty=True,
            stdin=True,
        )
        box.extra_pids.append(ex.pid)
        conn = await connect(box.tmp / "exec.sock")
        await ex.started()
        await conn.resize(12, 34)
        await conn.write_stdin(b"stty size; exit 3\n")
        out = b""
        while (f := await conn.read_frame()) is not None:
            out += f[1]
        await conn.close()
        return out, (await wait_exit(ex.pid, box.tmp / "exec.exit"))[0]

    out, code = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert b"12 34\r\n" in out and code == 3


def test_exec_stdin_sent_before_start_is_kept(box: Box) -> None:
    """E4: stdin a client sends before the exec'd process exists reaches it once it runs."""
    box.spawn(["sleep", "100"])
    box.runc.start(box.id)
    process = box.write_spec(["cat"])["process"]
    (box.tmp / "process.json").write_text(json.dumps(process))

    async def scenario() -> tuple[bytes, int]:
        ex = Shim.spawn_exec(
            box.shim_bin,
            box.id,
            box.bundle,
            "/usr/sbin/runc",
            box.runc_root,
            box.tmp / "process.json",
            box.tmp / "exec.exit",
            box.tmp / "exec.sock",
            tty=False,
            stdin=True,
        )
        box.extra_pids.append(ex.pid)
        conn = await connect(box.tmp / "exec.sock")
        await conn.write_stdin(b"early\n")
        await conn.close_stdin()
        await ex.started()
        out = b""
        while (f := await conn.read_frame()) is not None:
            out += f[1]
        await conn.close()
        return out, (await wait_exit(ex.pid, box.tmp / "exec.exit"))[0]

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == (b"early\n", 0)


def test_runc_wrapper(box: Box) -> None:
    """E4: the runc wrapper: ps, list, pause/resume, errors carry runc's message, delete and
    state are idempotent on unknown containers."""
    h = box.spawn(["sleep", "100"])
    box.runc.start(box.id)
    assert box.runc.ps(box.id) == [h.container_pid]
    assert [c["id"] for c in box.runc.list()] == [box.id]
    box.runc.pause(box.id)
    assert (box.runc.state(box.id) or {})["status"] == "paused"
    box.runc.resume(box.id)
    assert (box.runc.state(box.id) or {})["status"] == "running"
    with pytest.raises(errors.System, match="does not exist"):
        box.runc.start("dyt-nope")
    assert box.runc.state("dyt-nope") is None
    box.runc.delete("dyt-nope")
    box.runc.kill(box.id, signal.SIGKILL)
    assert box.wait()[0] == 137
