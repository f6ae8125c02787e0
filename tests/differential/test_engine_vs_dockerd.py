"""Docker is the oracle: the same docker CLI commands against a private real dockerd and against
dockyard must give the same exit codes, the same error wording and the same shapes (E1, E4, S3)."""

from __future__ import annotations

import json
import re

import pytest

from tests import oracle as oracle_dockerd
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def both(
    oracle: str, daemon: Daemon, *args: str
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    want = oracle_dockerd.docker(oracle, *args)
    got = oracle_dockerd.docker(str(daemon.socket), *args)
    return (
        (want.returncode, _norm(want.stdout.decode()), _norm(want.stderr.decode())),
        (got.returncode, _norm(got.stdout.decode()), _norm(got.stderr.decode())),
    )


def _norm(text: str) -> str:
    text = re.sub(r"\b[0-9a-f]{64}\b", "<ID>", text)
    text = re.sub(r"\b[0-9a-f]{12}\b", "<ID>", text)
    text = re.sub(r"\d+ seconds|Less than a second|About a minute", "<T>", text)
    return text


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"),
        ("run", "--rm", "busybox", "/no/such/binary"),
        ("rm", "diff-nosuch"),
        ("inspect", "diff-nosuch"),
        ("stop", "diff-nosuch"),
        ("logs", "diff-nosuch"),
        ("create", "--name", "a b", "busybox"),
        ("create", "--name", "x", "busybox"),
        ("create", "--restart", "sometimes", "busybox"),
        ("run", "--rm", "--restart", "always", "busybox", "true"),
        ("create", "-m", "1k", "busybox"),
    ],
)
def test_same_outcome(oracle: str, daemon: Daemon, args: tuple[str, ...]) -> None:
    want, got = both(oracle, daemon, *args)
    assert got[0] == want[0], (args, want, got)
    assert got[1] == want[1], (args, want, got)
    if args[0] != "run" or "/no/such/binary" not in args:  # runc's message is versioned
        assert got[2] == want[2], (args, want, got)


def test_same_lifecycle_errors(oracle: str, daemon: Daemon) -> None:
    for sock in (oracle, str(daemon.socket)):
        oracle_dockerd.docker(sock, "rm", "-f", "diff-run", "diff-stopped")
        assert (
            oracle_dockerd.docker(
                sock, "run", "-d", "--name", "diff-run", "busybox", "sleep", "60"
            ).returncode
            == 0
        )
        assert (
            oracle_dockerd.docker(
                sock, "create", "--name", "diff-stopped", "busybox", "true"
            ).returncode
            == 0
        )
    try:
        for args in (
            ("rm", "diff-run"),
            ("create", "--name", "diff-run", "busybox"),
            ("kill", "diff-stopped"),
            ("pause", "diff-stopped"),
            ("unpause", "diff-run"),
            ("exec", "diff-stopped", "true"),
            ("rmi", "busybox"),
        ):
            want, got = both(oracle, daemon, *args)
            assert got == want, (args, want, got)
    finally:
        for sock in (oracle, str(daemon.socket)):
            oracle_dockerd.docker(sock, "rm", "-f", "diff-run", "diff-stopped")


def test_same_diff(oracle: str, daemon: Daemon) -> None:
    """S3: `docker diff` reports the same A/C/D lines for the same changes."""
    script = "mkdir -p /newdir/sub && echo x > /newdir/sub/f && rm /bin/vi && touch /tmp/t && echo y >> /etc/profile"
    out = []
    for sock in (oracle, str(daemon.socket)):
        oracle_dockerd.docker(sock, "rm", "-f", "diff-diff")
        r = oracle_dockerd.docker(sock, "run", "--name", "diff-diff", "busybox", "sh", "-c", script)
        assert r.returncode == 0, r.stderr
        out.append(
            sorted(oracle_dockerd.docker(sock, "diff", "diff-diff").stdout.decode().splitlines())
        )
        oracle_dockerd.docker(sock, "rm", "diff-diff")
    assert out[1] == out[0]


def test_same_inspect_shape(oracle: str, daemon: Daemon) -> None:
    """E1: container inspect carries the keys Docker's has (values differ)."""
    docs = []
    for sock in (oracle, str(daemon.socket)):
        oracle_dockerd.docker(sock, "rm", "-f", "diff-shape")
        oracle_dockerd.docker(sock, "create", "--name", "diff-shape", "busybox", "true")
        docs.append(json.loads(oracle_dockerd.docker(sock, "inspect", "diff-shape").stdout)[0])
        oracle_dockerd.docker(sock, "rm", "diff-shape")
    want, got = docs
    assert set(want) - set(got) == set()
    assert set(want["State"]) - set(got["State"]) == set()
    assert set(want["Config"]) - set(got["Config"]) <= {"Volumes"}
    assert want["GraphDriver"]["Name"] == got["GraphDriver"]["Name"] == "overlay2"
    assert set(want["GraphDriver"]["Data"]) == set(got["GraphDriver"]["Data"])
