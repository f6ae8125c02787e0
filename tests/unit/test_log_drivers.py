"""Log drivers (E6): the driver table and its options with dockerd's words, the daemon-wide
default merged into a container's LogConfig as dockerd does, and the `local` driver's file
format read back (framing, partial lines, tail across rotated and gzip'd files)."""

from __future__ import annotations

import asyncio
import gzip
import io
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.runtime import locallog, logopts
from dockyard.runtime.logs import log_files, read_logs

NS = 10**9


def test_local_defaults_are_dockerds() -> None:
    """E6: local rotates at 20 MiB into 5 files and compresses the rotated ones by default."""
    s = logopts.parse({"Type": "local", "Config": {}})
    assert s == logopts.LogSettings("local", 20 * 1024 * 1024, 5, compress=True)
    s = logopts.parse(
        {"Type": "local", "Config": {"max-size": "1k", "max-file": "1", "compress": "false"}}
    )
    assert s == logopts.LogSettings("local", 1000, 1, compress=False)


@pytest.mark.parametrize(
    ("driver", "config", "message"),
    [
        ("syslog", {}, 'error looking up logging plugin syslog: plugin "syslog" not found'),
        ("nosuch", {}, 'error looking up logging plugin nosuch: plugin "nosuch" not found'),
        ("local", {"foo": "1"}, "unknown log opt 'foo' for log driver local"),
        ("json-file", {"foo": "1"}, "unknown log opt 'foo' for json-file log driver"),
        ("local", {"max-file": "1"}, "compression cannot be enabled when max file count is 1"),
        ("local", {"max-file": "-1", "compress": "false"}, "max file count cannot be less than 0"),
        (
            "local",
            {"max-size": "x"},
            "invalid value for max-size: x: invalid size: 'x'",
        ),
        (
            "local",
            {"max-file": "x"},
            'invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax',
        ),
        (
            "local",
            {"compress": "x"},
            'error reading compress log option: strconv.ParseBool: parsing "x": invalid syntax',
        ),
    ],
)
def test_refusals_use_dockerds_words(driver: str, config: dict[str, str], message: str) -> None:
    with pytest.raises(errors.InvalidParameter) as exc:
        logopts.parse({"Type": driver, "Config": config})
    assert exc.value.message == message and exc.value.status == 400


def test_none_takes_any_option() -> None:
    assert logopts.parse({"Type": "none", "Config": {"anything": "x"}}).driver == "none"


def test_daemon_default_is_merged_as_dockerd_does() -> None:
    """E6: an empty Type takes the daemon's driver; the daemon's options fill in only for a
    container of the daemon's own driver, and never override the container's."""
    opts = {"max-size": "1m", "max-file": "2"}
    assert logopts.merge(None, "local", opts) == {"Type": "local", "Config": opts}
    mine = {"Type": "", "Config": {"max-size": "5m"}}
    assert logopts.merge(mine, "local", opts) == {
        "Type": "local",
        "Config": {"max-size": "5m", "max-file": "2"},
    }
    other = {"Type": "json-file", "Config": {}}
    assert logopts.merge(other, "local", opts) == {"Type": "json-file", "Config": {}}
    with pytest.raises(errors.InvalidParameter):
        logopts.merge({"Type": "json-file", "Config": {"max-file": "0"}}, "json-file", {})


def test_daemon_flags_are_checked_at_start() -> None:
    assert logopts.daemon_default("local", ["max-size=1m"]) == ("local", (("max-size", "1m"),))
    with pytest.raises(ValueError, match="failed to set log opts: unknown log opt 'x' for log"):
        logopts.daemon_default("local", ["x=1"])
    with pytest.raises(ValueError, match="invalid key value pair"):
        logopts.daemon_default("json-file", ["max-size"])


def test_log_file_names_are_dockerds(tmp_path: Path) -> None:
    assert logopts.log_file(tmp_path, "c1", "json-file") == str(tmp_path / "c1-json.log")
    assert logopts.log_file(tmp_path, "c1", "local") == str(tmp_path / "local-logs/container.log")
    assert logopts.log_file(tmp_path, "c1", "none") == ""


def test_frames_decode_with_newlines_and_partials() -> None:
    """A complete line comes back with its newline, a partial one without; the bytes are
    moby's encoding (checked against a frame dockerd 20.10 wrote)."""
    written_by_dockerd = bytes.fromhex("000000150a067374646f757410cc8cf8b08ac2aaf7181a016100000015")
    bodies, used = locallog.split(written_by_dockerd)
    assert used == len(written_by_dockerd)
    stream, data, nanos = locallog.decode_entry(bodies[0])
    assert (stream, data) == (1, b"a\n") and nanos // NS == 1796560289
    assert locallog.encode("stdout", nanos, b"a") == written_by_dockerd
    part = locallog.encode("stderr", 5, b"no end", partial=True)
    assert locallog.decode_entry(locallog.split(part)[0][0]) == (2, b"no end", 5)
    assert locallog.split(part[:-1]) == ([], 0)  # a frame cut short waits


def test_tail_walks_frames_back() -> None:
    data = b"".join(locallog.encode("stdout", i, b"x%d" % i) for i in range(10))
    f = io.BytesIO(data)
    pos, count = locallog.tail_offset(f, 3)
    assert count == 3 and [b for b in locallog.split(data[pos:])[0]] == [
        locallog.split(locallog.encode("stdout", i, b"x%d" % i))[0][0] for i in (7, 8, 9)
    ]
    assert locallog.tail_offset(f, 50) == (0, 10)


def _read(path: Path, **kw: object) -> list[bytes]:
    async def go() -> list[bytes]:
        args: dict[str, object] = {"follow": False, "stdout": True, "stderr": True, "local": True}
        args.update(kw)
        return [data async for _, data in read_logs(path, **args)]  # type: ignore[arg-type]

    return asyncio.run(go())


def test_local_set_reads_across_gzip_rotations(tmp_path: Path) -> None:
    """Lines 0-2 in .2.gz, 3-5 in .1 (its gzip still running), 6-8 live: all in order; tail,
    since and until across the set."""
    path = tmp_path / "container.log"

    def frames(r: range) -> bytes:
        return b"".join(locallog.encode("stdout", i * NS, b"line %d" % i) for i in r)

    path.with_name("container.log.2.gz").write_bytes(gzip.compress(frames(range(0, 3))))
    path.with_name("container.log.1").write_bytes(frames(range(3, 6)))
    path.write_bytes(frames(range(6, 9)))
    assert [p.name for p in log_files(path)] == [
        "container.log.2.gz",
        "container.log.1",
        "container.log",
    ]
    assert _read(path) == [b"line %d\n" % i for i in range(9)]
    assert _read(path, tail=5) == [b"line %d\n" % i for i in range(4, 9)]
    assert _read(path, tail=8) == [b"line %d\n" % i for i in range(1, 9)]
    assert _read(path, since=2, until=4) == [b"line %d\n" % i for i in (2, 3, 4)]
    assert _read(path, tail=1, timestamps=True) == [b"1970-01-01T00:00:08.000000000Z line 8\n"]
