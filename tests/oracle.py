"""A private real dockerd, the oracle for differential tests and benchmarks: its own data root,
exec root, socket and containerd namespace, no bridge and no iptables, so it never touches a host
dockerd's state; `busybox:latest` imported from the host's static busybox."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APPLETS = ("sh", "echo", "cat", "sleep", "true", "false", "ls", "ps", "mkdir", "rm", "vi", "head",
           "grep", "id", "wget", "httpd", "nc", "env", "touch", "test", "[", "hostname", "date",
           "nslookup", "ping", "wc", "chmod")  # fmt: skip


def available() -> bool:
    return bool(shutil.which("dockerd") and shutil.which("docker") and os.geteuid() == 0)


def docker(
    sock: str, *args: str, stdin: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    return subprocess.run(
        ["docker", *args], env=env, input=stdin, capture_output=True, timeout=timeout
    )


def busybox_tar(root: Path) -> bytes:
    for d in ("bin", "tmp", "etc", "proc", "sys", "dev", "root"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy("/usr/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    tar = subprocess.run(["tar", "-C", str(root), "-c", "."], check=True, capture_output=True)
    return tar.stdout


@contextmanager
def private_dockerd(base: Path) -> Iterator[str]:
    """Start a dockerd under `base`, yield its socket path; stop it and remove `base` after."""
    base.mkdir(parents=True, exist_ok=True)
    sock = str(base / "d.sock")
    # its containers' cgroups under a parent of its own, removed after it (dockerd leaves the
    # empty parent behind, `docker` by default)
    parent = f"dockyard-oracle-{os.getpid()}-{base.name}"
    argv = ["dockerd", "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
            "-H", f"unix://{sock}", "--bridge", "none", "--iptables=false", "--ip-masq=false",
            "--pidfile", str(base / "d.pid"), "--cgroup-parent", parent,
            "--exec-opt", "native.cgroupdriver=cgroupfs"]  # fmt: skip
    with open(base / "dockerd.log", "wb") as log:
        # as under systemd: no terminal size (pytest sets COLUMNS, and dockerd's `top` runs ps,
        # which would cut its command column to it)
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while docker(sock, "version").returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the oracle dockerd did not start")
            time.sleep(0.2)
        imported = docker(sock, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest",
                          stdin=busybox_tar(base / "bb"))  # fmt: skip
        if imported.returncode != 0:
            raise RuntimeError(imported.stderr.decode())
        yield sock
    finally:
        leftovers = docker(sock, "ps", "-aq").stdout.decode().split() if proc.poll() is None else []
        if leftovers:
            docker(sock, "rm", "-f", *leftovers)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # its data root's mounts, and the host netns it bind-mounts at exec/netns/default once
        # a container joins a network (dockerd leaves that one behind)
        for mp in sorted(_mounts_under(base), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        from tests.conftest import remove_cgroups  # conftest imports this module lazily too

        remove_cgroups(parent)


def _mounts_under(base: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == str(base) or p.startswith(f"{base}/")]


def wait_until_serving(sock: str, proc: subprocess.Popen[bytes], what: str) -> None:
    """Wait until a Docker-API daemon answers `docker version` on `sock`."""
    deadline = time.monotonic() + 60
    while docker(sock, "version").returncode != 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.2)


@contextmanager
def in_netns(ns: Path, argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run a daemon inside the network namespace bind-mounted at `ns`; SIGTERM it after."""
    with open(log, "wb") as f:
        proc = subprocess.Popen(["nsenter", f"--net={ns}", *argv], stdout=f, stderr=f,
                                start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
