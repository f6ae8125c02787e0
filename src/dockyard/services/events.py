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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from dockyard.services.protocols import Event, Filters

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

    async def subscribe(
        self, since: float | None, until: float | None, filters: Filters
    ) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        sub = _Subscriber(loop)
        now_nano = self._clock()
        since_nano = _to_nano(since)
        until_nano = _to_nano(until)
        # Snapshot and register under one lock so no event is both replayed and queued, or lost.
        with self._lock:
            backlog = list(self._ring) if since is not None else []
            live = until_nano is None or until_nano > now_nano
            if live:
                self._subscribers.append(sub)
        try:
            for event in backlog:
                if since_nano is not None and event.time_nano < since_nano:
                    continue
                if until_nano is not None and event.time_nano > until_nano:
                    return
                if matches(event, filters):
                    yield event
            if not live:
                return
            while True:
                live_event = await self._next(sub, until_nano)
                if live_event is None:
                    return
                if until_nano is not None and live_event.time_nano > until_nano:
                    return
                if matches(live_event, filters):
                    yield live_event
        finally:
            self._unregister(sub)
            if sub.dropped:
                log.warning("slow events subscriber lost %d events", sub.dropped)

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
