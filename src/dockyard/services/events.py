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
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.core.events import Event, EventBus
from dockyard.core.types import Filters
from dockyard.images import reference

log = logging.getLogger(__name__)

RING_SIZE = 256  # dockerd's eventsLimit
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
    each `subscribe` iterator replays the ring (when `since` or `until` is given), then yields live events
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

    def export(self) -> list[list[Any]]:
        """The ring as JSON values, for a recycled daemon's successor (handover.py)."""
        return [[e.type, e.action, e.actor_id, e.attributes, e.time_nano] for e in self.recent()]

    def restore(self, ring: list[list[Any]]) -> None:
        """The predecessor's ring before this daemon's own events: `since` still replays it."""
        old = [Event(*fields) for fields in ring]
        with self._lock:
            mine = list(self._ring)
            self._ring.clear()
            self._ring.extend(old + mine)

    def subscribe(self, since: float | None, until: float | None, filters: Filters) -> Subscription:
        """Registers at once (call on the consumer's loop), so no event published after this call
        is missed even if iteration starts later; `aclose()` unregisters."""
        loop = asyncio.get_running_loop()
        sub = _Subscriber(loop)
        since_nano = _to_nano(since)
        until_nano = _to_nano(until)
        # Snapshot and register under one lock so no event is both replayed and queued, or lost.
        # As dockerd: either bound replays the ring (since..until), an `until` in the past ends
        # the stream after the replay.
        with self._lock:
            replay = since is not None or until is not None
            backlog = list(self._ring) if replay else []
            live = until_nano is None or until_nano > self._clock()
            if live:
                self._subscribers.append(sub)
        backlog = [
            e
            for e in backlog
            if (since_nano is None or e.time_nano >= since_nano)
            and (until_nano is None or e.time_nano <= until_nano)
        ]
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
    """dockerd's events filter (daemon/events/filter.go): every key must match; the values of
    a key are alternatives, except `label`, whose values must all match. Unknown keys are
    ignored, as dockerd ignores them."""
    f = {k: v for k, v in filters.items() if v}
    return (
        _match_event(event, f.get("event"))
        and _exact(f.get("type"), event.type)
        and _exact(f.get("scope"), "local")
        and all(_fuzzy_name(event, f.get(kind)) for kind in _NAMED)
        and _match_image(event, f.get("image"))
        and _match_labels(event, f.get("label"))
    )


# The keys dockerd matches against an actor's ID or its `name` attribute, by prefix, whatever
# the event's type (a `container=` value is also tried on an image's ID, as in dockerd).
_NAMED = ("daemon", "container", "plugin", "volume", "network", "node", "service", "secret",
          "config")  # fmt: skip
_FUZZY_ACTIONS = frozenset({"health_status", "exec_create", "exec_start"})


def _exact(values: list[str] | None, source: str) -> bool:
    return not values or source in values


def _fuzzy(values: list[str] | None, source: str) -> bool:
    return not values or any(source == v or source.startswith(v) for v in values)


def _fuzzy_name(event: Event, values: list[str] | None) -> bool:
    return _fuzzy(values, event.actor_id) or _fuzzy(values, event.attributes.get("name", ""))


def _match_event(event: Event, values: list[str] | None) -> bool:
    # "health_status", "exec_create" or "exec_start" among the values makes every value a
    # prefix ("exec_start: sh -c ..."), as in dockerd (moby #25798).
    if values and _FUZZY_ACTIONS.intersection(values):
        return _fuzzy(values, event.action)
    return _exact(values, event.action)


def _strip_tag(image: str) -> str:
    try:
        return reference.parse(image).familiar_name
    except errors.DockyardError:
        return image


def _match_image(event: Event, values: list[str] | None) -> bool:
    if not values:
        return True
    name = event.attributes.get("name" if event.type == "image" else "image", "")
    candidates = (event.actor_id, name, _strip_tag(event.actor_id), _strip_tag(name))
    return any(c in values for c in candidates)


def _match_labels(event: Event, values: list[str] | None) -> bool:
    if not values:
        return True
    attrs = event.attributes
    for value in values:
        key, sep, want = value.partition("=")
        if key not in attrs or (sep and attrs[key] != want):
            return False
    return True


if TYPE_CHECKING:  # mypy proves the bus satisfies the contract services and the API rely on
    _CONFORMS: EventBus = Events()
