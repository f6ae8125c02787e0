"""The daemon's event bus (`GET /events`, `docker events`).

Services publish from worker threads; subscribers are asyncio consumers on the daemon's loop.
The last `RING_SIZE` events are kept so `since` can replay recent history, as dockerd does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard.core.events import Event, EventBus
from dockyard.core.types import Filters

log = logging.getLogger(__name__)

RING_SIZE = 1024
QUEUE_LIMIT = 4096  # a subscriber this far behind is too slow: it loses events, not the daemon


@dataclass(eq=False)
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    dropped: int = 0

    def offer(self, event: Event) -> None:
        # Runs on the subscriber's loop (scheduled with call_soon_threadsafe).
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.dropped += 1
            return
        self.queue.put_nowait(event)


class Events:
    """An `EventBus`. Lifecycle: create once per daemon; `publish` from any thread at any time;
    each `subscribe` iterator replays the ring (when `since` is given), then yields live events
    until `until` passes or the consumer stops iterating (which unregisters it)."""

    def __init__(self, clock: Callable[[], int] = time.time_ns, ring_size: int = RING_SIZE) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._ring: deque[Event] = deque(maxlen=ring_size)
        self._subscribers: list[_Subscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by the daemon once its loop runs. Subscribers carry their own loop, so this only
        records the daemon's loop for `loop` (e.g. services scheduling work on it)."""
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def publish(self, type: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
        event = Event(type, action, actor_id, dict(attributes), self._clock())
        with self._lock:
            self._ring.append(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # the subscriber's loop is closed: forget it
                self._unregister(sub)

    def recent(self) -> list[Event]:
        with self._lock:
            return list(self._ring)

    def subscribe(self, since: float | None, until: float | None, filters: Filters) -> Subscription:
        """Registers at once (call on the consumer's loop), so no event published after this call
        is missed even if iteration starts later; `aclose()` unregisters."""
        loop = asyncio.get_running_loop()
        sub = _Subscriber(loop)
        since_nano = _to_nano(since)
        until_nano = _to_nano(until)
        # Snapshot and register under one lock so no event is both replayed and queued, or lost.
        with self._lock:
            backlog = list(self._ring) if since is not None else []
            live = until_nano is None or until_nano > self._clock()
            if live:
                self._subscribers.append(sub)
        if since_nano is not None:
            backlog = [e for e in backlog if e.time_nano >= since_nano]
        return Subscription(self, sub, deque(backlog), live, until_nano, filters)

    async def _next(self, sub: _Subscriber, until_nano: int | None) -> Event | None:
        if until_nano is None:
            return await sub.queue.get()
        remaining = (until_nano - self._clock()) / 1e9
        if remaining <= 0 and sub.queue.empty():
            return None
        try:
            return await asyncio.wait_for(sub.queue.get(), timeout=max(remaining, 0.0))
        except TimeoutError:
            return None

    def _unregister(self, sub: _Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)


class Subscription:
    """One consumer's view of the bus: an `AsyncIterator[Event]` that yields the replayed
    backlog, then live events, and ends at `until`. It is registered from creation; iterating to
    the end or calling `aclose()` unregisters it."""

    def __init__(
        self,
        bus: Events,
        sub: _Subscriber,
        backlog: deque[Event],
        live: bool,
        until_nano: int | None,
        filters: Filters,
    ) -> None:
        self._bus = bus
        self._sub = sub
        self._backlog = backlog
        self._live = live
        self._until_nano = until_nano
        self._filters = filters
        self._closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._closed:
            event = await self._pull()
            if event is None or (
                self._until_nano is not None and event.time_nano > self._until_nano
            ):
                break
            if matches(event, self._filters):
                return event
        await self.aclose()
        raise StopAsyncIteration

    async def _pull(self) -> Event | None:
        if self._backlog:
            return self._backlog.popleft()
        if not self._live:
            return None
        return await self._bus._next(self._sub, self._until_nano)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus._unregister(self._sub)
        if self._sub.dropped:
            log.warning("slow events subscriber lost %d events", self._sub.dropped)


def _to_nano(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1_000_000_000)


def matches(event: Event, filters: Filters) -> bool:
    """Docker's events filter: every given key must match, any value of a key may match."""
    for key, values in filters.items():
        if not values:
            continue
        test = _FILTERS.get(key)
        if test is None or not any(test(event, v) for v in values):
            return False
    return True


def _match_action(event: Event, value: str) -> bool:
    # "health_status: healthy" and "exec_start: sh" match their bare action name too.
    return event.action == value or event.action.split(":", 1)[0] == value


def _match_actor(kind: str) -> Callable[[Event, str], bool]:
    def test(event: Event, value: str) -> bool:
        if event.type != kind:
            return False
        return (
            event.actor_id == value
            or (len(value) >= 1 and event.actor_id.startswith(value))
            or event.attributes.get("name") == value
        )

    return test


def _image_names(value: str) -> set[str]:
    names = {value}
    last = value.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        names.add(value + ":latest")
    elif value.endswith(":latest"):
        names.add(value[: -len(":latest")])
    return names


def _match_image(event: Event, value: str) -> bool:
    wanted = _image_names(value)
    if event.type == "container":
        return bool(wanted & {event.attributes.get("image", "")})
    if event.type != "image":
        return False
    if wanted & {event.actor_id, event.attributes.get("name", "")}:
        return True
    short = value.removeprefix("sha256:")
    return len(short) >= 1 and event.actor_id.removeprefix("sha256:").startswith(short)


def _match_label(event: Event, value: str) -> bool:
    key, sep, want = value.partition("=")
    if key not in event.attributes:
        return False
    return not sep or event.attributes[key] == want


_FILTERS: dict[str, Callable[[Event, str], bool]] = {
    "type": lambda event, value: event.type == value,
    "event": _match_action,
    "container": _match_actor("container"),
    "image": _match_image,
    "label": _match_label,
    "volume": _match_actor("volume"),
    "network": _match_actor("network"),
    "daemon": _match_actor("daemon"),
    "scope": lambda event, value: value == "local",
}


if TYPE_CHECKING:  # mypy proves the bus satisfies the contract services and the API rely on
    _CONFORMS: EventBus = Events()
