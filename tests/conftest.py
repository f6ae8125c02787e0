"""Shared fixtures: a private dockyard daemon per test session (own data root, exec root, socket
and cgroup parent), and a session-end check that nothing was left on the host."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime.cgroups import CgroupHost
from tests import clis, host_filter, ownaddress

ROOT = Path(__file__).resolve().parent.parent

# The docker CLI this session drives (tests/clis.py): first on PATH as `docker`.
_CLI_SHIM = clis.put_first_on_path()

# A skip is a failure (a fresh machine must run every test), except for a limit of the machine's
# kernel that no install step can lift: such a skip's reason starts with this prefix.
KERNEL_LIMIT = "kernel limit: "
_SKIPS: list[str] = []
# Test daemons pull docker.io names from a closed local port: no test ever reaches Docker Hub.
NO_HUB = "127.0.0.1:9"
# How much slower than this host the machine is (scripts/vm-check's guest sets 10 under emulation):
# the daemon's start deadline and `until`'s timeouts are stretched by it.
SLOWDOWN = float(os.environ.get("DOCKYARD_TEST_SLOWDOWN", "1"))


def pytest_report_header(config: pytest.Config) -> list[str]:
    cli = clis.chosen()
    ver = clis.version(cli) or "MISSING"
    return [f"docker CLI: {cli} ({ver}); set DOCKYARD_DOCKER_CLI to choose another"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = (
            str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        )
        reason = reason.removeprefix("Skipped: ")
        if not reason.startswith(KERNEL_LIMIT):
            _SKIPS.append(f"{report.nodeid}: {reason}")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


@dataclass
class Daemon:
    """A running private daemon; `api()` is a tiny raw client for assertions on the wire."""

    root: Path
    data_root: Path
    exec_root: Path
    socket: Path
    cgroup_parent: str
    cgroup_driver: str = field(default_factory=lambda: CgroupHost.detect([]).driver)
    # own bridge device and nft table (dockyard-<bridge>) per daemon
    bridge: str = field(default_factory=lambda: f"dyl{os.getpid()}")
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    extra_args: tuple[str, ...] = ()  # more `dockyard daemon` flags
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. DOCKYARD_CRASH_AT

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def cgroups(self) -> CgroupHost:
        """Where this daemon puts its containers' cgroups."""
        return CgroupHost.detect([f"native.cgroupdriver={self.cgroup_driver}"], self.cgroup_parent)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKYARD_HOST"] = self.host
        env["DOCKER_HOST"] = self.host
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
        return env

    def api(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        conn = UnixHTTPConnection(str(self.socket))
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        if payload and "json" in (resp.getheader("Content-Type") or ""):
            return resp.status, json.loads(payload)
        return resp.status, payload or None

    def dockyard(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            env=self.env(),
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> None:
        self.log_path = self.root / "daemon.log"
        argv = [sys.executable, "-m", "dockyard", "daemon", "--data-root", str(self.data_root),
                "--exec-root", str(self.exec_root), "-H", self.host,
                "--cgroup-parent", self.cgroup_parent, "--log-level", "debug",
                "--exec-opt", f"native.cgroupdriver={self.cgroup_driver}",
                "--hub-endpoint", NO_HUB,
                "--bridge", self.bridge, *self.extra_args]  # fmt: skip
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                argv,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.extra_env},
            )
        deadline = time.time() + 30 * SLOWDOWN
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited:\n" + self.log_path.read_text()[-4000:])
            try:
                status, _ = self.api("GET", "/_ping")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("daemon did not answer /_ping:\n" + self.log_path.read_text()[-4000:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _remove_all_containers(d: Daemon) -> None:
    try:
        status, ctrs = d.api("GET", "/containers/json?all=1")
    except OSError:
        return
    if status != 200:
        return
    for c in ctrs:
        d.api("DELETE", f"/containers/{c['Id']}?force=1&v=1")


def _mounts_under(path: Path) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(str(path)):
                out.append(mp)
    return out


def processes_naming(*marks: bytes) -> list[int]:
    """Pids of the processes whose command line holds every one of `marks`."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if all(mark in cmd for mark in marks):
            pids.append(int(p.name))
    return pids


def _shims_for(path: Path) -> list[int]:
    return processes_naming(str(path).encode(), b"dockyard")


def own_cgroup_parent(tag: str) -> str:
    """A test daemon's own cgroup parent, under the host's default driver: a directory name for
    cgroupfs, a top-level slice (no dashes: a dash nests slices) for systemd."""
    if CgroupHost.detect([]).systemd:
        return f"dockyard_test_{os.getpid()}{tag.replace('-', '_')}.slice"
    return f"dockyard-test-{os.getpid()}{tag}"


def remove_cgroups(parent: str) -> None:
    """Remove a daemon's cgroup parent in every hierarchy, deepest first (empty ones only); a
    systemd slice is stopped first."""
    systemd = parent.endswith(".slice")
    if systemd:
        subprocess.run(["systemctl", "stop", parent], capture_output=True, check=False)
    host = CgroupHost.detect(
        [f"native.cgroupdriver={'systemd' if systemd else 'cgroupfs'}"], parent
    )
    for cg in (p for p in host.parent_dirs() if p.exists()):
        for sub in sorted(cg.glob("**/"), key=lambda p: len(str(p)), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(sub)


def _links_on(bridge: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return [line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()]


def _user_network_bridges(d: Daemon) -> list[str]:
    """The bridge devices of the user networks a stopped daemon's records still hold (their
    overlay VXLAN devices are deleted here, so they are not taken for leaks on the bridge)."""
    db = d.data_root / "dockyard.db"
    if not db.exists():
        return []
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT doc FROM networks").fetchall()
    except sqlite3.Error:
        return []
    docs = [json.loads(doc) for (doc,) in rows]
    for vxlan in (doc.get("VXLAN") for doc in docs):  # an overlay network's, on its bridge
        if isinstance(vxlan, str) and vxlan:
            subprocess.run(["ip", "link", "del", vxlan], capture_output=True, check=False)
    devices = (doc.get("Device") for doc in docs)
    return [dev for dev in devices if isinstance(dev, str) and dev and dev != d.bridge]


def teardown_host_state(d: Daemon) -> list[str]:
    """Remove what a daemon and its containers made; return what had to be forced (leaks)."""
    leaks: list[str] = []
    for pid in _shims_for(d.root):
        leaks.append(f"process {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    subprocess.run(
        ["runc", "--root", str(d.exec_root / "runc"), "list", "-q"],
        capture_output=True,
        check=False,
    )
    for mp in sorted(_mounts_under(d.root), key=len, reverse=True):
        leaks.append(f"mount {mp}")
        subprocess.run(["umount", "-l", mp], check=False)
    # The daemon leaves its bridges and tables for the next start (the default one and those of
    # the user networks still in its records); a test session ends them.
    for bridge in (d.bridge, *_user_network_bridges(d)):
        for family in ("ip", "ip6", "netdev"):
            subprocess.run(["nft", "delete", "table", family, f"dockyard-{bridge}"],
                           capture_output=True, check=False)  # fmt: skip
        host_filter.remove_rules(bridge)  # its accepts in the host's FORWARD chain (D-net-6)
        for link in _links_on(bridge):
            leaks.append(f"link {link}")
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
    remove_cgroups(d.cgroup_parent)
    return leaks


def until(what: Callable[[], Any], timeout: float) -> Any:
    """Poll `what()` until it is truthy and return that value (or the last falsy one); `timeout`
    is what an idle host needs, a busy shared one gets three times that."""
    deadline = time.monotonic() + 3 * timeout * SLOWDOWN
    while True:
        got = what()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


@contextmanager
def private_daemon(tag: str, bridge: str, *extra_args: str,
                   data_fs_mib: int = 0) -> Iterator[Daemon]:  # fmt: skip
    """A daemon with its own data root, exec root, socket, cgroup parent and bridge, busybox
    bootstrapped; torn down even when its start fails (it may have made its bridge already).
    What teardown had to force counts as a leak and fails the session. `data_fs_mib`: the data
    root is a fresh ext4 filesystem of that size (a loop-mounted file), to be filled up."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = Path(tempfile.mkdtemp(prefix="dockyard-test-", dir="/var/tmp"))
    _SESSION_ROOTS.append(str(root))
    if data_fs_mib:
        _small_filesystem(root / "data.img", root / "data", data_fs_mib)
    d = Daemon(
        root=root,
        data_root=root / "data",
        exec_root=root / "exec",
        socket=root / "dockyard.sock",
        cgroup_parent=own_cgroup_parent(tag),
        bridge=bridge,
        extra_args=extra_args,
    )
    try:
        d.start()
        status, body = d.api("POST", "/dockyard/images/bootstrap")
        assert status == 200, body
        yield d
    finally:
        if d.proc and d.proc.poll() is None:
            _remove_all_containers(d)
        d.stop()
        leaks = teardown_host_state(d)
        if data_fs_mib:  # the small filesystem itself is no leak (teardown unmounted it)
            leaks = [leak for leak in leaks if leak != f"mount {root / 'data'}"]
            subprocess.run(["umount", str(root / "data")], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
        _SESSION_LEAKS.extend(leaks)


def _small_filesystem(image: Path, at: Path, mib: int) -> None:
    """ext4 in a file, loop-mounted at `at` (the loop device goes with the umount)."""
    with open(image, "wb") as f:
        f.truncate(mib << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    at.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(at)], check=True)


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    """The private daemon most tests share."""
    with private_daemon("", f"dyt{os.getpid()}") as d:
        yield d


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real dockerd to compare with (one per test module, so modules never see each other's
    containers): $DOCKYARD_ORACLE_SOCK when set, else a private one (tests/oracle.py)."""
    from tests import oracle as oracle_dockerd

    given = os.environ.get("DOCKYARD_ORACLE_SOCK")
    if given:
        if not os.path.exists(given):
            pytest.skip(f"oracle socket {given} is absent")
        yield given
        return
    if not oracle_dockerd.available():
        pytest.skip("needs root, dockerd and the docker CLI for the oracle")
    base = Path(tmp_path_factory.mktemp("oracle"))
    try:
        with oracle_dockerd.private_dockerd(base) as sock:
            yield sock
    except RuntimeError as e:
        pytest.skip(str(e))
    _SESSION_LEAKS.extend(f"mount {mp}" for mp in _mounts_under(base))  # the oracle's own too


_SESSION_LEAKS: list[str] = []
_FILTER_TABLE_BEFORE = os.geteuid() != 0 or host_filter.filter_table_exists()
_SESSION_ROOTS: list[str] = []  # this session's daemon roots (other sessions may run beside it)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test was skipped for anything but a kernel limit, or when tests left
    mounts, processes or cgroups behind."""
    clis.remove(_CLI_SHIM)
    if _SKIPS:
        sys.stderr.write(
            "\nSKIPPED TESTS (a skip is a failure: install what they need; only a "
            f"'{KERNEL_LIMIT}...' skip is allowed):\n  " + "\n  ".join(_SKIPS) + "\n"
        )
        session.exitstatus = 1
    if os.geteuid() != 0:
        return
    left = list(_SESSION_LEAKS)
    for mp in _mounts_under(Path("/var/tmp")):
        if any(mp.startswith(r + "/") for r in _SESSION_ROOTS) or "pytest" in mp:
            left.append(f"mount {mp}")
    for pattern in (f"dockyard-test-{os.getpid()}*", f"dockyard_test_{os.getpid()}*.slice"):
        for p in [
            *Path("/sys/fs/cgroup").glob(pattern),
            *Path("/sys/fs/cgroup").glob(f"*/{pattern}"),
        ]:
            left.append(f"cgroup {p}")
    # This session's daemons name their bridges dy?<pid> and their nft tables dockyard-dy?<pid>.
    mine = re.compile(rf"^dy[a-z]{os.getpid()}$")
    for link in subprocess.run(
        ["ip", "-o", "link"], capture_output=True, text=True
    ).stdout.splitlines():
        name = link.split(":")[1].strip().split("@")[0]
        if mine.match(name):
            left.append(f"link {name}")
    left += [f"link {name}" for name in ownaddress.left_behind()]  # a registry's own address
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    left += [
        f"nft {t}"
        for t in tables.splitlines()
        if mine.match(t.split()[-1].removeprefix("dockyard-"))
    ]
    left += host_filter.leftover_rules(mine)
    if not _FILTER_TABLE_BEFORE:
        host_filter.drop_empty_filter_table()
    if left:
        sys.stderr.write("\nLEFT BEHIND BY TESTS:\n  " + "\n  ".join(left) + "\n")
        session.exitstatus = 1
