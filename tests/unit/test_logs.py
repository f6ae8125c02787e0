"""E4: reading json-file logs for `docker logs` (tail, since/until, timestamps, partial lines,
follow)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from dockyard.runtime.logs import parse_time, read_logs, tail_offset


def entry(log: str, stream: str = "stdout", t: str = "2026-11-29T05:35:37.123456789Z") -> str:
    return json.dumps({"log": log, "stream": stream, "time": t}) + "\n"


def collect(path: Path, **kw: object) -> list[tuple[int, bytes]]:
    async def run() -> list[tuple[int, bytes]]:
        args: dict[str, object] = {"follow": False, "stdout": True, "stderr": True, **kw}
        return [item async for item in read_logs(path, **args)]  # type: ignore[arg-type]

    return asyncio.run(run())


def test_streams_and_filtering(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_text(entry("a\n") + entry("b\n", "stderr") + entry("c"))
    assert collect(p) == [(1, b"a\n"), (2, b"b\n"), (1, b"c")]
    assert collect(p, stderr=False) == [(1, b"a\n"), (1, b"c")]
    assert collect(p, stdout=False) == [(2, b"b\n")]


def test_missing_file_yields_nothing(tmp_path: Path) -> None:
    assert collect(tmp_path / "nope") == []


def test_tail(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_text("".join(entry(f"line {i}\n") for i in range(5000)))
    assert [d for _, d in collect(p, tail=2)] == [b"line 4998\n", b"line 4999\n"]
    assert collect(p, tail=0) == []
    assert len(collect(p, tail=10000)) == 5000
    assert len(collect(p, tail=None)) == 5000


def test_tail_offset_seeks_backwards_across_blocks() -> None:
    lines = [b"x" * 100_000 + b"\n", b"y\n", b"z" * 70_000 + b"\n"]
    f = io.BytesIO(b"".join(lines))
    assert tail_offset(f, 1) == len(lines[0]) + len(lines[1])
    assert tail_offset(f, 2) == len(lines[0])
    assert tail_offset(f, 3) == 0 and tail_offset(f, 99) == 0


def test_since_until_and_timestamps(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_text(
        entry("old\n", t="2026-11-29T05:00:00Z")
        + entry("mid\n", t="2026-11-29T06:00:00.5Z")
        + entry("new\n", t="2026-11-29T07:00:00Z")
    )
    mid = parse_time("2026-11-29T06:00:00Z")[0]
    assert [d for _, d in collect(p, since=mid)] == [b"mid\n", b"new\n"]
    assert [d for _, d in collect(p, until=mid + 1)] == [b"old\n", b"mid\n"]
    assert collect(p, since=mid, until=mid + 1, timestamps=True) == [
        (1, b"2026-11-29T06:00:00.500000000Z mid\n")
    ]


def test_parse_time() -> None:
    assert parse_time("1970-01-01T00:00:01.000000001Z") == (1, 1)
    assert parse_time("1970-01-01T00:00:02Z") == (2, 0)
    assert parse_time("1970-01-01T00:00:02.5Z") == (2, 500_000_000)


def test_partial_line_waits_for_its_end_when_following(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_text(entry("one\n"))
    running = [True]

    async def run() -> list[tuple[int, bytes]]:
        out = []
        gen = read_logs(p, follow=True, stdout=True, stderr=True, is_running=lambda: running[0])
        out.append(await gen.__anext__())
        half = entry("two\n")
        with p.open("a") as f:
            f.write(half[:10])
            f.flush()
            await asyncio.sleep(0.3)
            f.write(half[10:])
        running[0] = False
        out += [item async for item in gen]
        return out

    assert asyncio.run(asyncio.wait_for(run(), 5)) == [(1, b"one\n"), (1, b"two\n")]


def test_follow_ends_when_container_stops(tmp_path: Path) -> None:
    p = tmp_path / "log"
    p.write_text("")
    running = [True]

    async def run() -> list[tuple[int, bytes]]:
        async def writer() -> None:
            await asyncio.sleep(0.2)
            p.write_text(entry("late\n"))
            running[0] = False

        task = asyncio.create_task(writer())
        out = [
            item
            async for item in read_logs(
                p, follow=True, stdout=True, stderr=True, is_running=lambda: running[0]
            )
        ]
        await task
        return out

    assert asyncio.run(asyncio.wait_for(run(), 5)) == [(1, b"late\n")]
