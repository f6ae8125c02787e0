"""R1 (#17): a daemon with a thousand containers holds thousands of descriptors, and a C library
that waits with select() (libnftables) cannot use one numbered 1024 or more: glibc aborted the
daemon with "bit out of range 0 - FD_SETSIZE on fd_set" at its first nft batch after 500
containers had been idle for a minute (the idle context had been freed; the new one's socket
got a high number). Long-lived descriptors now sit above 1023 and libnftables is used only while
a low number is free (dockyard/fds.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import private_daemon

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_nft_batches_survive_a_process_whose_low_descriptors_are_all_taken() -> None:
    """Every number below 1100 is taken before the first batch: the old code aborted (SIGABRT)
    inside libnftables; now the batch goes through the `nft` command and lands."""
    table = f"dockyard-fdtest{os.getpid()}"
    script = textwrap.dedent(f"""
        import os, resource, subprocess
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        null = os.open("/dev/null", os.O_RDONLY)
        while os.dup(null) < 1100:
            pass
        from dockyard.network.firewall import nft
        nft.apply("add table ip {table}\\n")
        listed = subprocess.run(["nft", "list", "table", "ip", "{table}"], capture_output=True)
        nft.apply("delete table ip {table}\\n")
        print("listed", listed.returncode)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       timeout=60, check=False)  # fmt: skip
    subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, check=False)
    assert (r.returncode, r.stdout) == (0, "listed 0\n"), r.stderr[-2000:]


def test_a_running_containers_descriptors_sit_above_fd_setsize() -> None:
    """The shim's pidfd and the DNS server's two sockets of a container on a user network are
    numbered 1024 or more in the daemon, leaving the low numbers free."""
    with private_daemon("fds", f"dyf{os.getpid()}") as d:
        assert d.proc is not None
        fd_dir = Path(f"/proc/{d.proc.pid}/fd")

        def high() -> dict[str, int]:
            kinds: dict[str, int] = {}
            for entry in fd_dir.iterdir():
                if int(entry.name) >= 1024:
                    with_kind = os.readlink(entry).split(":")[0]
                    kinds[with_kind] = kinds.get(with_kind, 0) + 1
            return kinds

        assert high() == {}
        assert d.dockyard("network", "create", "fdnet").returncode == 0
        r = d.dockyard("run", "-d", "--network", "fdnet", "--name", "fd1", "busybox",
                       "sleep", "300")  # fmt: skip
        assert r.returncode == 0, r.stderr
        # anon_inode:[pidfd] and socket:[inode]
        assert high() == {"anon_inode": 1, "socket": 2}
        assert d.dockyard("rm", "-f", "fd1").returncode == 0
        assert high() == {}
        assert d.dockyard("network", "rm", "fdnet").returncode == 0
