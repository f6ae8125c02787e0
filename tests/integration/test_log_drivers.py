"""Log drivers (E6) through the docker CLI on the real kernel: `local` (the shim's size-framed
protobuf entries in local-logs/container.log, rotated and gzip'd), json-file's compress, `none`,
and the refusals of unknown drivers and options. `docker logs` with --since/--until/--tail/
--timestamps/-f on every driver that reads."""

from __future__ import annotations

import gzip
import re
import subprocess

import pytest

from dockyard.runtime import locallog
from tests.compat.cli import DOCKER, docker, ok
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

LINES = "echo out1; echo err1 >&2; sleep 1.2; echo out2; printf 'no newline'"


def _run(d: Daemon, *args: str) -> str:
    cid = ok(docker(d, "run", "-d", *args)).strip()
    ok(docker(d, "wait", cid))
    return cid


@pytest.mark.parametrize("driver", ["local", "json-file"])
def test_logs_read_back_with_every_option(daemon: Daemon, driver: str) -> None:
    """E6: both readable drivers give the same `docker logs`: streams apart, --tail, -t with
    nine fraction digits, --since/--until cutting at the pause, and a last line without its
    newline kept as written."""
    cid = _run(daemon, "--log-driver", driver, "busybox", "sh", "-c", LINES)
    try:
        r = docker(daemon, "logs", cid)
        assert (r.stdout, r.stderr) == ("out1\nout2\nno newline", "err1\n")
        assert ok(docker(daemon, "logs", "--tail", "2", cid)) == "out2\nno newline"
        stamped = ok(docker(daemon, "logs", "-t", cid)).split("\n")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out1", stamped[0])
        second = stamped[1].split(" ")[0]  # out2's time: after the pause
        assert ok(docker(daemon, "logs", "--since", second, cid)) == "out2\nno newline"
        r = docker(daemon, "logs", "--until", second, cid)
        assert (r.stdout, r.stderr) == ("out1\nout2\n", "err1\n")
        if driver == "local":
            path = daemon.data_root / "containers" / cid / "local-logs" / "container.log"
            bodies, used = locallog.split(path.read_bytes())
            assert used == path.stat().st_size and len(bodies) == 4
            assert locallog.decode_entry(bodies[1])[:2] == (2, b"err1\n")
            assert ok(docker(daemon, "inspect", "-f", "[{{.LogPath}}]", cid)) == "[]\n"
    finally:
        docker(daemon, "rm", "-f", cid)


def test_local_follow_sees_new_lines_and_ends_with_the_container(daemon: Daemon) -> None:
    """E6: `logs -f` on a local log prints lines as they come and returns when it stops."""
    assert DOCKER is not None
    script = "for i in 1 2 3; do echo tick$i; sleep 0.3; done"
    cid = ok(docker(daemon, "run", "-d", "--log-driver", "local", "busybox", "sh", "-c", script))
    cid = cid.strip()
    try:
        proc = subprocess.run(
            [DOCKER, "logs", "-f", cid], env=daemon.env(), capture_output=True, text=True,
            timeout=30,
        )  # fmt: skip
        assert proc.stdout == "tick1\ntick2\ntick3\n"
    finally:
        docker(daemon, "rm", "-f", cid)


def test_local_rotates_compresses_and_reads_across(daemon: Daemon) -> None:
    """E6: local with max-size=1k max-file=3 keeps the live file and two gzip'd ones (moby's
    names), never more; logs and --tail read them back in order."""
    script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"
    cid = _run(daemon, "--log-driver", "local", "--log-opt", "max-size=1k", "--log-opt",
               "max-file=3", "busybox", "sh", "-c", script)  # fmt: skip
    try:
        logs = daemon.data_root / "containers" / cid / "local-logs"
        names = sorted(p.name for p in logs.iterdir())
        assert names == ["container.log", "container.log.1.gz", "container.log.2.gz"]
        for name in names[1:]:
            bodies, used = locallog.split(gzip.decompress((logs / name).read_bytes()))
            assert bodies and used > 1000
        numbers = [int(n) for n in re.findall(r"line-(\d+)", ok(docker(daemon, "logs", cid)))]
        assert numbers == list(range(numbers[0], 300)) and numbers[0] > 0
        tail = ok(docker(daemon, "logs", "--tail", "60", cid)).split()
        assert tail == [f"line-{i}" for i in range(240, 300)]
    finally:
        docker(daemon, "rm", "-f", cid)


def test_json_file_compress_gzips_rotated_files(daemon: Daemon) -> None:
    """E6: json-file with compress=true writes `<id>-json.log.N.gz`, read back in order."""
    script = "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done"
    cid = _run(daemon, "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "--log-opt",
               "compress=true", "busybox", "sh", "-c", script)  # fmt: skip
    try:
        names = sorted(p.name for p in (daemon.data_root / "containers" / cid).glob(f"{cid}*"))
        assert names == [f"{cid}-json.log", f"{cid}-json.log.1.gz", f"{cid}-json.log.2.gz"]
        numbers = [int(n) for n in re.findall(r"line-(\d+)", ok(docker(daemon, "logs", cid)))]
        assert numbers == list(range(numbers[0], 200)) and numbers[0] > 0
    finally:
        docker(daemon, "rm", "-f", cid)


def test_json_file_max_file_without_max_size_is_accepted(daemon: Daemon) -> None:
    """E6: as dockerd 20.10: max-file alone is taken and nothing rotates."""
    cid = _run(daemon, "--log-opt", "max-file=3", "busybox", "echo", "kept")
    try:
        fmt = "{{json .HostConfig.LogConfig}}"
        assert ok(docker(daemon, "inspect", "-f", fmt, cid)) == (
            '{"Type":"json-file","Config":{"max-file":"3"}}\n'
        )
        assert ok(docker(daemon, "logs", cid)) == "kept\n"
    finally:
        docker(daemon, "rm", "-f", cid)


def test_none_keeps_nothing_and_refuses_reading(daemon: Daemon) -> None:
    """E6: `none`: no log file at all; `docker logs` is dockerd's 501 with its words."""
    cid = _run(daemon, "--log-driver", "none", "busybox", "echo", "lost")
    try:
        r = docker(daemon, "logs", cid)
        assert r.returncode == 1
        assert "configured logging driver does not support reading" in r.stderr
        status, body = daemon.api("GET", f"/containers/{cid}/logs?stdout=1")
        assert status == 501
        assert body == {"message": "configured logging driver does not support reading"}
        files = {p.name for p in (daemon.data_root / "containers" / cid).iterdir()}
        assert not any("log" in name for name in files), files
        assert ok(docker(daemon, "inspect", "-f", "[{{.LogPath}}]", cid)) == "[]\n"
    finally:
        docker(daemon, "rm", "-f", cid)


@pytest.mark.parametrize(
    ("log_config", "message"),
    [
        ({"Type": "syslog"}, 'error looking up logging plugin syslog: plugin "syslog" not found'),
        ({"Type": "local", "Config": {"foo": "1"}}, "unknown log opt 'foo' for log driver local"),
        (
            {"Type": "json-file", "Config": {"x": "1"}},
            "unknown log opt 'x' for json-file log driver",
        ),
        (
            {"Type": "local", "Config": {"max-file": "1"}},
            "compression cannot be enabled when max file count is 1",
        ),
        ({"Type": "json-file", "Config": {"mode": "x"}}, "logger: logging mode not supported: x"),
    ],
)
def test_bad_drivers_and_options_are_400_and_create_nothing(
    daemon: Daemon, log_config: dict[str, object], message: str
) -> None:
    before = ok(docker(daemon, "ps", "-aq", "--no-trunc")).split()
    status, body = daemon.api(
        "POST",
        "/containers/create",
        {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"LogConfig": log_config}},
    )
    assert (status, body) == (400, {"message": message})
    assert ok(docker(daemon, "ps", "-aq", "--no-trunc")).split() == before


def test_cli_wording_for_a_driver_dockyard_lacks(daemon: Daemon) -> None:
    """E6: `docker run --log-driver syslog` fails at create with dockerd's plugin lookup error
    (exit 125), as a dockerd without the driver answers."""
    r = docker(daemon, "run", "--rm", "--log-driver", "syslog", "busybox", "true")
    assert r.returncode == 125
    assert 'error looking up logging plugin syslog: plugin "syslog" not found' in r.stderr
