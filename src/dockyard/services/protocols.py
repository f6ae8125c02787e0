"""What the API handlers (and nothing else) call. Inputs and outputs are Docker Engine API shapes
(plain dicts as in moby's api/swagger.yaml), so handlers only decode query/body and encode JSON.

Sync methods may block (mounts, tar, runc): handlers call them through `asyncio.to_thread`.
Async methods wait for something (an exit, a stream) and are awaited on the loop.
Every method raises only `dockyard.errors` classes for user-visible failures.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Callable, Iterator
from typing import BinaryIO, Protocol

from dockyard.core.types import AttachOptions, Filters, Json
from dockyard.distribution.auth import Credentials


class StreamSession(Protocol):
    """A live attach or exec session. Output chunks carry Docker's stream ids
    (0 stdin, 1 stdout, 2 stderr); with a TTY everything is stream 1."""

    tty: bool
    framed: bool  # 8-byte multiplexed frames, else raw bytes
    detach_keys: bytes  # stdin ends the session at this sequence; b"" for none

    def detached(self) -> None: ...  # the client typed the detach keys
    def output(self) -> AsyncIterator[tuple[int, bytes]]: ...  # ends when the process exits
    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def close(self) -> None: ...  # detach; the process keeps running


class ContainerService(Protocol):
    def create(self, name: str | None, body: Json) -> Json: ...  # {"Id", "Warnings"}
    def inspect(self, ref: str, size: bool = False) -> Json: ...
    # inspect(ref) encoded, kept while valid; inspect_kept: only a kept one (no store read)
    def inspect_encoded(self, ref: str, encode: Callable[[Json], bytes]) -> bytes: ...
    def inspect_kept(self, ref: str) -> bytes | None: ...
    def list(self, all: bool, limit: int, size: bool, filters: Filters) -> builtins.list[Json]: ...
    def start(self, ref: str) -> None: ...  # NotModified when already running
    async def stop(self, ref: str, signal: str | None, timeout: int | None) -> None: ...
    async def restart(self, ref: str, signal: str | None, timeout: int | None) -> None: ...
    async def kill(self, ref: str, signal: str) -> None: ...  # SIGKILL: returns after the exit
    def update(self, ref: str, body: Json) -> Json: ...  # {"Warnings"}
    def pause(self, ref: str) -> None: ...
    def unpause(self, ref: str) -> None: ...
    async def remove(self, ref: str, force: bool, volumes: bool) -> None: ...
    def remove_link(self, ref: str) -> None: ...  # `rm --link parent/alias`
    # `wait`: the exit code now, or a future for it registered before this returns
    async def wait_registered(self, ref: str, condition: str) -> int | asyncio.Future[int]: ...
    def logs(
        self,
        ref: str,
        *,
        follow: bool,
        stdout: bool,
        stderr: bool,
        since: float,
        until: float,
        timestamps: bool,
        tail: str,
    ) -> AsyncIterator[tuple[int, bytes]]: ...
    def top(self, ref: str, ps_args: str) -> Json: ...  # {"Titles", "Processes"}
    async def stats_once(self, ref: str, one_shot: bool) -> Json: ...  # one StatsJSON
    async def stats_stream(self, ref: str) -> AsyncIterator[Json]: ...  # one a second
    def rename(self, ref: str, new_name: str) -> None: ...
    def changes(self, ref: str) -> builtins.list[Json]: ...  # [{"Path", "Kind"}]
    def export(self, ref: str) -> Iterator[bytes]: ...
    def resize(self, ref: str, height: int, width: int) -> None: ...
    async def attach(self, ref: str, opts: AttachOptions) -> StreamSession: ...
    def commit(
        self,
        ref: str,
        *,
        repo: str | None,
        tag: str | None,
        author: str,
        comment: str,
        changes: builtins.list[str],
        pause: bool,
        config: Json | None,
    ) -> Json: ...  # {"Id"}
    def prune(self, filters: Filters) -> Json: ...  # {"ContainersDeleted", "SpaceReclaimed"}

    # exec
    def exec_create(self, ref: str, body: Json) -> Json: ...  # {"Id"}
    async def exec_start(
        self, exec_id: str, *, detach: bool, tty: bool
    ) -> StreamSession | None: ...
    def exec_inspect(self, exec_id: str) -> Json: ...
    def exec_resize(self, exec_id: str, height: int, width: int) -> None: ...


class ImageService(Protocol):
    def list(self, all: bool, filters: Filters, digests: bool) -> builtins.list[Json]: ...
    def inspect(self, ref: str) -> Json: ...
    def history(self, ref: str) -> builtins.list[Json]: ...
    def tag(self, ref: str, repo: str, tag: str | None) -> None: ...
    def remove(
        self, ref: str, force: bool, noprune: bool
    ) -> builtins.list[Json]: ...  # Untagged/Deleted
    def import_tar(
        self,
        src: BinaryIO,
        repo: str | None,
        tag: str | None,
        changes: builtins.list[str],
        message: str,
    ) -> str: ...  # image id "sha256:..."
    def save(
        self, refs: builtins.list[str]
    ) -> Iterator[bytes]: ...  # docker-archive + OCI layout tar
    def load(
        self, src: BinaryIO
    ) -> builtins.list[str]: ...  # "Loaded image: x:y" / "Loaded image ID: ..."
    def pull(self, ref: str, tag: str | None, platform: str = "") -> None: ...  # to the end
    def pull_stream(
        self, name: str, tag: str | None, platform: str, creds: Credentials
    ) -> Iterator[bytes]: ...  # E5: errors before the stream are raised, later ones in it
    def push_stream(self, name: str, tag: str | None, creds: Credentials) -> Iterator[bytes]: ...
    def login(self, server: str, creds: Credentials) -> str: ...
    def prune(self, filters: Filters) -> Json: ...  # {"ImagesDeleted", "SpaceReclaimed"}


class SystemService(Protocol):
    def info(self) -> Json: ...
    def version(self) -> Json: ...
    def df(self) -> Json: ...
