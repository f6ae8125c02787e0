"""E6 against the oracle dockerd (its docker-init is Debian's tini too): the same docker CLI
commands give the same exit codes, output and error words for `--init` and the log drivers."""

from __future__ import annotations

import pytest

from tests import oracle as oracle_dockerd
from tests.conftest import Daemon
from tests.differential.test_engine_vs_dockerd import both

pytestmark = [pytest.mark.compat, pytest.mark.integration]

LINES = "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; printf 'no newline'"  # apart in time: two pipes


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--rm", "--log-driver", "nosuch", "busybox", "true"),
        ("create", "--log-opt", "foo=1", "busybox"),
        ("create", "--log-driver", "local", "--log-opt", "foo=1", "busybox"),
        ("create", "--log-opt", "mode=sometimes", "busybox"),
        ("run", "--rm", "--init", "busybox", "sh", "-c", "exit 5"),
        ("run", "--rm", "--init", "busybox", "sh", "-c", "echo out; echo err >&2"),
    ],
)
def test_same_outcome(oracle: str, daemon: Daemon, args: tuple[str, ...]) -> None:
    want, got = both(oracle, daemon, *args)
    assert got == want, (args, want, got)


def _ps_pid_and_command(out: str) -> list[tuple[str, str]]:
    """busybox ps without the USER column (the oracle's busybox has no /etc/passwd)."""
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    return [(r[0], r[2]) for r in rows if r[2] != "ps"]


def test_init_is_pid_1_and_stop_ends_the_shell(oracle: str, daemon: Daemon) -> None:
    """`ps` shows the same docker-init command line as PID 1; SIGTERM through docker-init ends a
    shell loop with 143 on both."""
    for sock in (oracle, str(daemon.socket)):
        r = oracle_dockerd.docker(sock, "run", "--rm", "--init", "busybox", "ps")
        assert r.returncode == 0, r.stderr
        assert _ps_pid_and_command(r.stdout.decode()) == [("1", "/sbin/docker-init -- ps")]
    outcomes = []
    for sock in (oracle, str(daemon.socket)):
        loop = "while true; do sleep 1; done"
        r = oracle_dockerd.docker(sock, "run", "-d", "--init", "busybox", "sh", "-c", loop)
        cid = r.stdout.decode().strip()
        try:
            assert oracle_dockerd.docker(sock, "stop", "-t", "20", cid).returncode == 0
            fmt = "{{.State.ExitCode}} {{json .HostConfig.Init}} {{.Path}} {{json .Args}}"
            outcomes.append(oracle_dockerd.docker(sock, "inspect", "-f", fmt, cid).stdout)
        finally:
            oracle_dockerd.docker(sock, "rm", "-f", cid)
    assert outcomes[0] == outcomes[1] == b'143 true sh ["-c","while true; do sleep 1; done"]\n'


@pytest.mark.parametrize("driver", ["local", "json-file", "none"])
def test_logs_and_log_config_as_dockerd(oracle: str, daemon: Daemon, driver: str) -> None:
    """The same `docker logs` (streams apart, --tail, the unterminated last line), the same
    refusal for `none`, and the same LogConfig in inspect."""
    seen = []
    for sock in (oracle, str(daemon.socket)):
        r = oracle_dockerd.docker(
            sock, "run", "-d", "--log-driver", driver, "busybox", "sh", "-c", LINES
        )
        cid = r.stdout.decode().strip()
        try:
            assert oracle_dockerd.docker(sock, "wait", cid).returncode == 0
            out = []
            for args in (("logs", cid), ("logs", "--tail", "2", cid)):
                r = oracle_dockerd.docker(sock, *args)
                out.append((r.returncode, r.stdout, r.stderr.replace(cid.encode(), b"<ID>")))
            fmt = "{{json .HostConfig.LogConfig}}"
            out.append(oracle_dockerd.docker(sock, "inspect", "-f", fmt, cid).stdout)
            seen.append(out)
        finally:
            oracle_dockerd.docker(sock, "rm", "-f", cid)
    assert seen[0] == seen[1]
    if driver != "none":
        assert seen[1][0] == (0, b"out1\nout2\nno newline", b"err1\n")
