"""What the container collaborators share (E4): the records, the layer store, the image resolver,
the launcher and events, and the live state kept in memory (per-container locks, parked attach
sessions, exit and remove waiters, the exit watchers, the event loop). One object, built by
Containers and handed to each collaborator (creation, lifecycle, removal, supervision, queries,
execs); nothing else is shared between them.

Locks: `lock(cid)` serializes a container's start, stop bookkeeping, exit recording and removal;
`create_lock` makes name checks and inserts atomic; `parked_lock` orders attach against start.
Futures in the waiter maps are touched on the loop only."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from dockyard.config import Config
from dockyard.core.container import ContainerRecord
from dockyard.core.events import EventBus, container_attributes, publish_volumes
from dockyard.core.locks import KeyedLocks
from dockyard.core.types import Json
from dockyard.services.containers.launcher import Launcher
from dockyard.services.containers.sessions import ShimSession
from dockyard.state.containers import ContainerRepo
from dockyard.storage.protocols import LayerStore
from dockyard.storage.trash import TRASH_DIR, Trash


class ResolvedImage(Protocol):
    @property
    def id(self) -> str: ...


class ImageResolver(Protocol):
    """What containers ask of the image service (services/images.py implements it)."""

    def resolve(self, ref: str) -> ResolvedImage: ...  # errors.NotFound: Docker's wording
    def config(self, image_id: str) -> Json: ...  # the image's config JSON
    def top_layer(self, image_id: str) -> str | None: ...  # its top chain id
    def commit(
        self,
        *,
        parent: str | None,
        layer_tar: BinaryIO | Iterable[bytes],
        container_config: Json,
        config_override: Json | None,
        changes: list[str],
        author: str,
        comment: str,
        container_id: str,
        repo: str | None,
        tag: str | None,
    ) -> str: ...  # a new image from a container's writable layer (S6)


@dataclass
class ContainerShared:
    cfg: Config
    repo: ContainerRepo
    layers: LayerStore
    images: ImageResolver
    events: EventBus
    launcher: Launcher
    locks: KeyedLocks  # shared with the network service (connect/disconnect)
    loop: asyncio.AbstractEventLoop | None = None
    create_lock: threading.Lock = field(default_factory=threading.Lock)
    parked_lock: threading.Lock = field(default_factory=threading.Lock)
    parked: dict[str, list[ShimSession]] = field(default_factory=dict)  # attached before start
    exit_waiters: dict[str, list[asyncio.Future[int]]] = field(default_factory=dict)
    remove_waiters: dict[str, list[asyncio.Future[int]]] = field(default_factory=dict)
    watchers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    trash: Trash = field(init=False)  # removed containers' dirs, deleted in the background

    def __post_init__(self) -> None:
        self.trash = Trash(self.cfg.containers_root / TRASH_DIR)

    def lock(self, cid: str) -> threading.Lock:
        return self.locks(cid)

    def forget_lock(self, cid: str) -> None:
        self.locks.forget(cid)

    def get(self, ref: str) -> ContainerRecord:
        """Resolve a name, full id or unique id prefix (Docker's order)."""
        return self.repo.resolve(ref)

    def view(self, ref: str) -> ContainerRecord:
        """get() for a caller that only reads the record (never mutate it): a shared parsed
        copy while the stored record is unchanged (ContainerRepo.view)."""
        return self.repo.view(ref)

    def publish(self, rec: ContainerRecord, action: str, **extra: str) -> None:
        attrs = container_attributes(rec.config, rec.name, extra)
        self.events.publish("container", action, rec.id, attrs)

    def publish_volumes(self, rec: ContainerRecord, action: str) -> None:
        """Volume `mount` (at start, around `cp`) or `unmount` (after an exit) events."""
        publish_volumes(self.events, rec.id, rec.doc.get("Mounts") or [], action)

    def on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """From a worker thread: run `fn` on the loop, without waiting."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(fn, *args)

    def run_on_loop(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """From a worker thread: run `coro` on the loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def container_dir(self, cid: str) -> Path:
        return self.cfg.containers_root / cid

    def orphans(self) -> tuple[list[str], list[str]]:
        """What a create killed before its record was written left: container layers and
        container directories no record names (take create_lock around it while the daemon
        serves: a create holds it from the layer to the record)."""
        known = {rec.id for rec in self.repo.all()}
        layers = [rw.container_id for rw in self.layers.rw_layers() if rw.container_id not in known]
        root = self.cfg.containers_root
        dirs = (
            sorted(p.name for p in root.iterdir() if p.name not in known and p.name != TRASH_DIR)
            if root.is_dir()
            else []
        )
        return layers, dirs

    def remove_orphans(self, layers: Iterable[str], dirs: Iterable[str]) -> None:
        for cid in layers:
            self.layers.remove_rw(cid)
        for name in dirs:
            shutil.rmtree(self.cfg.containers_root / name, ignore_errors=True)

    async def exited(self, cid: str) -> asyncio.Future[int]:
        """A future for the container's next exit (set by the exit watcher)."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.exit_waiters.setdefault(cid, []).append(fut)
        return fut

    def drop_exit_waiter(self, cid: str, fut: asyncio.Future[int]) -> None:
        waiting = self.exit_waiters.get(cid, [])
        if fut in waiting:
            waiting.remove(fut)
        if not waiting:
            self.exit_waiters.pop(cid, None)
        fut.cancel()


def running(rec: ContainerRecord) -> bool:
    return rec.state["Status"] in ("running", "paused")


_BACKGROUND: set[asyncio.Task[None]] = set()


def keep_alive(task: asyncio.Task[None]) -> None:
    """The loop holds tasks weakly: keep fire-and-forget ones alive until they finish."""
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
