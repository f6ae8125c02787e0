"""json-file rotation (E4): the options with Docker's rules and wording, and reading a rotated
set back in order (tail and since across files, follow across a rotation)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.runtime import logopts
from dockyard.runtime.logs import log_files, read_logs


def test_options_parse_docker_sizes_and_counts() -> None:
    """E4: max-size uses decimal units (10m = 10,000,000); max-file counts the live file."""
    json_file = logopts.JSON_FILE
    assert logopts.parse(None) == logopts.LogSettings(json_file, 0, 1)
    assert logopts.parse({"Type": "json-file", "Config": {}}) == logopts.LogSettings(
        json_file, 0, 1
    )
    cfg = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    assert logopts.parse(cfg) == logopts.LogSettings(json_file, 10_000_000, 3)
    assert logopts.parse({"Config": {"max-size": "1k"}}) == logopts.LogSettings(json_file, 1000, 1)
    assert logopts.parse({"Config": {"max-size": "1.5KB"}}).max_size == 1500
    # max-file without max-size: accepted, as dockerd does, and nothing rotates
    assert logopts.parse({"Config": {"max-file": "3"}}) == logopts.LogSettings(json_file, 0, 1)
    cfg = {"Config": {"max-size": "1k", "max-file": "2", "compress": "true"}}
    assert logopts.parse(cfg) == logopts.LogSettings(json_file, 1000, 2, compress=True)
    none = logopts.parse({"Type": "none", "Config": {"whatever": "x"}})
    assert none == logopts.LogSettings("none") and not none.readable


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"max-size": "abc"}, "invalid size: 'abc'"),
        ({"max-size": "0"}, "max-size must be a positive number"),
        ({"max-size": "1m", "max-file": "0"}, "max-file cannot be less than 1"),
        ({"max-size": "1m", "compress": "yes"}, 'strconv.ParseBool: parsing "yes": invalid syntax'),
        (
            {"max-size": "1m", "compress": "true"},
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        ({"mode": "sometimes"}, "logger: logging mode not supported: sometimes"),
        (
            {"max-buffer-size": "1m"},
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
        ({"max-size": "1m", "max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"bogus": "1"}, "unknown log opt 'bogus' for json-file log driver"),
    ],
)
def test_bad_options_are_refused_with_dockers_words(config: dict[str, str], message: str) -> None:
    """E4: bad --log-opt values are a 400 with dockerd's message."""
    with pytest.raises(errors.InvalidParameter) as exc:
        logopts.parse({"Type": "json-file", "Config": config})
    assert exc.value.message == message


def _entry(i: int) -> bytes:
    t = f"2026-01-01T00:00:{i:02d}.000000000Z"
    return json.dumps({"log": f"line {i}\n", "stream": "stdout", "time": t}).encode() + b"\n"


def _write_set(path: Path) -> None:
    """Lines 0-2 in .2, 3-5 in .1, 6-8 live: what the shim leaves with max-file 3."""
    path.with_name(path.name + ".2").write_bytes(b"".join(_entry(i) for i in range(0, 3)))
    path.with_name(path.name + ".1").write_bytes(b"".join(_entry(i) for i in range(3, 6)))
    path.write_bytes(b"".join(_entry(i) for i in range(6, 9)))


async def _read(path: Path, **kw: object) -> list[bytes]:
    args: dict[str, object] = {"follow": False, "stdout": True, "stderr": True, **kw}
    return [data async for _, data in read_logs(path, **args)]  # type: ignore[arg-type]


def test_reading_spans_rotated_files_oldest_first(tmp_path: Path) -> None:
    """E4: `logs` reads <log>.2, <log>.1, then <log>; --tail and --since cross the files."""
    path = tmp_path / "c-json.log"
    _write_set(path)
    assert log_files(path) == [path.with_name(path.name + s) for s in (".2", ".1", "")]
    everything = asyncio.run(_read(path))
    assert everything == [f"line {i}\n".encode() for i in range(9)]
    assert asyncio.run(_read(path, tail=2)) == [b"line 7\n", b"line 8\n"]
    assert asyncio.run(_read(path, tail=3)) == [b"line 6\n", b"line 7\n", b"line 8\n"]
    assert asyncio.run(_read(path, tail=5)) == [f"line {i}\n".encode() for i in range(4, 9)]
    assert asyncio.run(_read(path, tail=100)) == everything
    assert asyncio.run(_read(path, tail=0)) == []
    since = 1767225600 + 4  # 2026-01-01T00:00:04Z
    assert asyncio.run(_read(path, since=since))[0] == b"line 4\n"


def test_follow_continues_into_the_new_file_after_a_rotation(tmp_path: Path) -> None:
    """E4: `logs -f` keeps reading after the shim renamed the live file to .1."""
    path = tmp_path / "c-json.log"
    path.write_bytes(_entry(0))
    running = [True]

    async def scenario() -> list[bytes]:
        got: list[bytes] = []

        async def rotate() -> None:
            await asyncio.sleep(0.15)
            with path.open("ab") as f:
                f.write(_entry(1))
            path.rename(path.with_name(path.name + ".1"))
            path.write_bytes(_entry(2))
            await asyncio.sleep(0.3)
            running[0] = False

        task = asyncio.create_task(rotate())
        async for _, data in read_logs(
            path, follow=True, stdout=True, stderr=True, is_running=lambda: running[0]
        ):
            got.append(data)
        await task
        return got

    assert asyncio.run(scenario()) == [b"line 0\n", b"line 1\n", b"line 2\n"]
