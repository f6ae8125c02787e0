"""Fake services for the API tests, and a real server on a unix socket in a background thread
(so blocking clients: http.client, raw sockets and docker-py, can talk to it)."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import web

from dockyard.api.server import serve
from dockyard.core import detachkeys
from dockyard.core.types import AttachOptions, Filters, Json
from dockyard.errors import Conflict, NotFound, NotModified, no_such_container, no_such_image
from dockyard.services.events import Events
from dockyard.services.protocols import StreamSession

CID = "a" * 64


class EchoSession:
    """Echoes stdin upper-cased on stdout; on stdin EOF says "bye" on stderr and ends."""

    def __init__(
        self, tty: bool = False, ended: bool = False, framed: bool | None = None,
        detach_keys: bytes = b"",
    ) -> None:  # fmt: skip
        self.tty = tty
        self.framed = not tty if framed is None else framed
        self.detach_keys = detach_keys if tty else b""
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        if ended:  # a process that exits without reading stdin
            self.queue.put_nowait(None)
        self.closed = False
        self.stdin_closed = False

    def detached(self) -> None:
        self.closed = True

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        yield (1, b"hello\n")
        while (item := await self.queue.get()) is not None:
            yield item

    async def write_stdin(self, data: bytes) -> None:
        await self.queue.put((1, data.upper()))

    async def close_stdin(self) -> None:
        self.stdin_closed = True
        await self.queue.put((2, b"bye\n"))
        await self.queue.put(None)

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeContainers:
    records: dict[str, Json] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    exit_code: int | None = None
    sessions: list[EchoSession] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    log_frames: list[tuple[int, bytes]] = field(default_factory=list)
    exec_ends: bool = False  # exec sessions end after their greeting
    _settling: set[asyncio.Task[None]] = field(default_factory=set)  # wait_registered's tasks

    def _get(self, ref: str) -> Json:
        for cid, rec in self.records.items():
            if ref in (cid, cid[:12], rec["Name"].lstrip("/")):
                return rec
        raise no_such_container(ref)

    def create(self, name: str | None, body: Json) -> Json:
        if name and any(r["Name"] == "/" + name for r in self.records.values()):
            raise Conflict(f'Conflict. The container name "/{name}" is already in use')
        cid = (
            CID if not self.records else hashlib.sha256(str(len(self.records)).encode()).hexdigest()
        )
        self.records[cid] = {
            "Id": cid,
            "Name": "/" + (name or "x"),
            "Config": body,
            "State": {"Running": True, "Paused": False, "Restarting": False},
        }
        return {"Id": cid, "Warnings": []}

    def inspect(self, ref: str, size: bool = False) -> Json:
        return self._get(ref)

    def inspect_encoded(self, ref: str, encode: Callable[[Json], bytes]) -> bytes:
        return encode(self._get(ref))

    def inspect_kept(self, ref: str) -> bytes | None:
        return None  # nothing kept: every answer is read afresh

    def list(self, all: bool, limit: int, size: bool, filters: Filters) -> list[Json]:
        self.calls.append(("list", (all, limit, size, filters)))
        return [
            {
                "Id": cid,
                "Names": [r["Name"]],
                "Image": "busybox",
                "State": "running",
                "Status": "Up",
            }
            for cid, r in self.records.items()
        ]

    def start(self, ref: str) -> None:
        cid = self._get(ref)["Id"]
        if cid in self.running:
            raise NotModified("container already started")
        self.running.add(cid)

    async def stop(self, ref: str, signal: str | None, timeout: int | None) -> None:
        self.calls.append(("stop", (ref, signal, timeout)))
        self._get(ref)

    async def restart(self, ref: str, signal: str | None, timeout: int | None) -> None:
        self._get(ref)

    async def kill(self, ref: str, signal: str) -> None:
        self.calls.append(("kill", (ref, signal)))

    def update(self, ref: str, body: Json) -> Json:
        self.calls.append(("update", (ref, body)))
        return {"Warnings": None}

    def pause(self, ref: str) -> None: ...
    def unpause(self, ref: str) -> None: ...

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        del self.records[self._get(ref)["Id"]]

    async def wait_registered(self, ref: str, condition: str) -> int | asyncio.Future[int]:
        self._get(ref)  # a missing container raises before anything is registered
        self.calls.append(("wait_registered", (ref, condition)))
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def settle() -> None:
            while self.exit_code is None:
                await asyncio.sleep(0.01)
            if not fut.done():
                fut.set_result(self.exit_code)

        self._settling.add(asyncio.get_running_loop().create_task(settle()))
        return fut

    async def logs(self, ref: str, **kwargs: Any) -> AsyncIterator[tuple[int, bytes]]:
        self.calls.append(("logs", kwargs))
        for item in self.log_frames:
            yield item

    def top(self, ref: str, ps_args: str) -> Json:
        return {"Titles": ["PID"], "Processes": [["1"]]}

    def rename(self, ref: str, new_name: str) -> None: ...

    def changes(self, ref: str) -> list[Json]:
        return [{"Path": "/tmp", "Kind": 0}]

    def export(self, ref: str) -> Iterator[bytes]:
        self._get(ref)
        return iter([b"tar-part-1", b"tar-part-2"])

    def resize(self, ref: str, height: int, width: int) -> None: ...

    async def attach(self, ref: str, opts: AttachOptions) -> StreamSession:
        tty = bool(self._get(ref)["Config"].get("Tty"))
        keys = detachkeys.parse(opts.detach_keys or "ctrl-p,ctrl-q")
        session = EchoSession(tty, detach_keys=keys)
        self.sessions.append(session)
        return session

    def commit(self, ref: str, **kwargs: Any) -> Json:
        self.calls.append(("commit", (ref, kwargs)))
        return {"Id": "sha256:" + "c" * 64}

    def prune(self, filters: Filters) -> Json:
        return {"ContainersDeleted": [], "SpaceReclaimed": 0}

    def exec_create(self, ref: str, body: Json) -> Json:
        self._get(ref)
        return {"Id": "e" * 64}

    async def exec_start(self, exec_id: str, *, detach: bool, tty: bool) -> StreamSession | None:
        if exec_id != "e" * 64:
            raise NotFound(f"No such exec instance: {exec_id}")
        if detach:
            return None
        session = EchoSession(tty, ended=self.exec_ends, framed=not tty)
        self.sessions.append(session)
        return session

    def exec_inspect(self, exec_id: str) -> Json:
        return {"ID": exec_id, "Running": False, "ExitCode": 0}

    def exec_resize(self, exec_id: str, height: int, width: int) -> None: ...


@dataclass
class FakeImages:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def list(self, all: bool, filters: Filters, digests: bool) -> list[Json]:
        self.calls.append(("list", (all, filters, digests)))
        return [{"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:latest"]}]

    def inspect(self, ref: str) -> Json:
        if ref not in ("busybox", "localhost:5000/a/b"):
            raise no_such_image(ref)
        return {"Id": "sha256:" + "b" * 64, "RepoTags": [ref + ":latest"]}

    def history(self, ref: str) -> list[Json]:
        return [{"Id": ref}]

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        self.calls.append(("tag", (ref, repo, tag)))

    def remove(self, ref: str, force: bool, noprune: bool) -> list[Json]:
        return [{"Untagged": ref}]

    def import_tar(
        self, src: BinaryIO, repo: str | None, tag: str | None, changes: list[str], message: str
    ) -> str:
        data = src.read()
        self.calls.append(("import", (len(data), repo, tag, changes, message)))
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def save(self, refs: list[str]) -> Iterator[bytes]:
        for ref in refs:
            self.inspect(ref)
        return iter([b"saved:" + ",".join(refs).encode()])

    def load(self, src: BinaryIO) -> list[str]:
        src.read()
        return ["Loaded image: busybox:latest"]

    def pull(self, ref: str, tag: str | None, platform: str = "") -> None:
        raise NotFound(f"pull access denied for {ref}, repository does not exist")

    def pull_stream(self, name: str, tag: str | None, platform: str, creds: Any) -> Any:
        self.pull(name, tag)

    def prune(self, filters: Filters) -> Json:
        return {"ImagesDeleted": None, "SpaceReclaimed": 0}

    def bootstrap_busybox(self) -> str:
        return "busybox"


class FakeSystem:
    def info(self) -> Json:
        return {"ID": "DYRD", "Containers": 1, "Name": "testhost", "OSType": "linux"}

    def version(self) -> Json:
        return {
            "Version": "24.0.0-dockyard",
            "ApiVersion": "1.44",
            "MinAPIVersion": "1.24",
            "Os": "linux",
        }

    def df(self) -> Json:
        return {"LayersSize": 0, "Images": [], "Containers": [], "Volumes": []}


@dataclass
class FakeEngine:
    containers: FakeContainers = field(default_factory=FakeContainers)
    images: FakeImages = field(default_factory=FakeImages)
    events: Events = field(default_factory=Events)
    system: FakeSystem = field(default_factory=FakeSystem)


class ServerThread:
    """Runs `serve()` on its own loop in a thread; `stop()` tears it down."""

    def __init__(self, engine: FakeEngine, sock: Path) -> None:
        self.engine = engine
        self.sock = sock
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._runner = self.loop.run_until_complete(serve(self.engine, self.sock))  # type: ignore[arg-type]
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("localhost", timeout=10)
        conn.sock = self.connect()
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = dict(headers or {})
        if not isinstance(body, bytes) and body is not None:
            headers.setdefault("Content-Type", "application/json")  # as every client sends it
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        return resp.status, resp.headers, payload

    def connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(self.sock))
        return s


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
