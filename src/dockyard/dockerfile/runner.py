"""RUN steps' containers (MISSION S1): create a container of the step's image through the
container service, start it, stream its output as build progress (stderr in Docker's red), wait
for its exit code; remove it afterwards, whatever happened, so a failed build leaves no
container, mount or cgroup behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from dockyard.core.container import ContainerRecord
from dockyard.core.types import Json
from dockyard.runtime import logs as logfile

log = logging.getLogger(__name__)
RED, RESET = "\x1b[91m", "\x1b[0m"


class Containers(Protocol):
    """What a RUN step asks of the container service (services/containers/service.py)."""

    def create(self, name: str | None, body: Json) -> Json: ...
    def start(self, ref: str) -> None: ...
    def get(self, ref: str) -> ContainerRecord: ...
    async def exited(self, cid: str) -> asyncio.Future[int]: ...  # the next exit's code
    async def remove(self, ref: str, force: bool, volumes: bool) -> None: ...


class StepRunner:
    def __init__(self, containers: Containers, quiet: bool = False) -> None:
        self.containers = containers
        self.quiet = quiet

    async def run(self, body: Json, result: dict[str, Any]) -> AsyncIterator[Json]:
        """Run the container; fills result["id"] and result["code"]. On an error before the exit
        the container is removed here and the error propagates."""
        svc = self.containers
        created = await asyncio.to_thread(svc.create, None, body)
        cid = created["Id"]
        result["id"] = cid
        try:
            yield {"stream": f" ---> Running in {cid[:12]}\n"}
            exited = await svc.exited(cid)  # registered before start: no exit can be missed
            await asyncio.to_thread(svc.start, cid)
            rec = await asyncio.to_thread(svc.get, cid)
            async for stream_id, data in _follow(Path(rec.log_path), exited):
                if self.quiet:
                    continue
                text = data.decode(errors="replace")
                yield {"stream": f"{RED}{text}{RESET}" if stream_id == 2 else text}
            result["code"] = await exited
        except BaseException:
            await self.remove(cid)
            raise

    async def remove(self, cid: str) -> None:
        try:
            await self.containers.remove(cid, force=True, volumes=True)
        except Exception as e:  # already gone: nothing left to clean
            log.debug("removing build container %s: %s", cid[:12], e)


async def _follow(path: Path, exited: asyncio.Future[int]) -> AsyncIterator[tuple[int, bytes]]:
    """The container's json-file log until it exited and is drained; the exit wakes us at
    once (no poll delay after the last line)."""
    pos = 0
    pending = b""
    while True:
        done = exited.done()
        try:
            with path.open("rb") as f:
                f.seek(pos)
                chunk = f.read(logfile.BLOCK)
        except FileNotFoundError:
            chunk = b""
        if chunk:
            pos += len(chunk)
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            for line in lines:
                entry = logfile.parse_line(line) if line else None
                if entry is not None:
                    yield entry.stream, entry.data
            continue
        if done:
            return
        await asyncio.wait({exited}, timeout=0.05)
