"""E1: the event bus: thread-safe publish, filters, `since` replay from the ring, `until` end."""

from __future__ import annotations

import asyncio
import threading
import time

from dockyard.core.events import Event
from dockyard.services.events import Events, matches


def _event(
    type: str = "container", action: str = "start", actor: str = "c1", **attrs: str
) -> Event:
    return Event(type, action, actor, attrs, time.time_ns())


async def _collect(bus: Events, n: int, **kw: object) -> list[Event]:
    out: list[Event] = []
    subscription = bus.subscribe(kw.get("since"), kw.get("until"), kw.get("filters") or {})  # type: ignore[arg-type]
    try:
        async for event in subscription:
            out.append(event)
            if len(out) == n:
                break
    finally:
        await subscription.aclose()
    return out


def test_publish_from_threads_reaches_live_subscriber() -> None:
    """E1: events published from worker threads arrive in order at an asyncio subscriber."""
    bus = Events()

    async def scenario() -> list[Event]:
        task = asyncio.create_task(_collect(bus, 3))
        await asyncio.sleep(0.01)  # subscribed
        thread = threading.Thread(
            target=lambda: [
                bus.publish("container", a, "c1", {}) for a in ("create", "start", "die")
            ]
        )
        thread.start()
        thread.join()
        return await asyncio.wait_for(task, 5)

    assert [e.action for e in asyncio.run(scenario())] == ["create", "start", "die"]


def test_since_replays_ring_then_streams_live() -> None:
    """E1: `since` replays buffered events newer than it, then live ones follow."""
    bus = Events()
    bus.publish("container", "old", "c1", {})
    time.sleep(0.01)
    since = time.time()
    bus.publish("container", "create", "c1", {})

    async def scenario() -> list[str]:
        task = asyncio.create_task(_collect(bus, 2, since=since))
        await asyncio.sleep(0.01)
        bus.publish("container", "start", "c1", {})
        return [e.action for e in await asyncio.wait_for(task, 5)]

    assert asyncio.run(scenario()) == ["create", "start"]


def test_until_ends_the_stream() -> None:
    """E1: a past `until` ends after the replay; a future one ends when it passes."""
    bus = Events()
    bus.publish("container", "create", "c1", {})
    until_past = time.time()
    time.sleep(0.01)
    bus.publish("container", "start", "c1", {})

    async def scenario() -> tuple[list[str], list[str], float]:
        past = [e.action for e in await _collect(bus, 99, since=0, until=until_past)]
        t0 = time.monotonic()
        future = [e.action for e in await _collect(bus, 99, since=None, until=time.time() + 0.2)]
        return past, future, time.monotonic() - t0

    past, future, waited = asyncio.run(scenario())
    assert past == ["create"]
    assert future == [] and 0.15 <= waited < 2


def test_ring_keeps_only_last_events() -> None:
    """E1: the replay ring is bounded."""
    bus = Events(ring_size=3)
    for i in range(5):
        bus.publish("container", f"a{i}", "c1", {})
    assert [e.action for e in bus.recent()] == ["a2", "a3", "a4"]


def test_subscribe_registers_before_iteration() -> None:
    """E1: events published between subscribe() and the first read are not lost (the API sends
    the response headers in between)."""
    bus = Events()

    async def scenario() -> list[str]:
        subscription = bus.subscribe(None, None, {})
        bus.publish("container", "start", "c1", {})
        try:
            return [(await asyncio.wait_for(anext(subscription), 5)).action]
        finally:
            await subscription.aclose()

    assert asyncio.run(scenario()) == ["start"]
    assert bus._subscribers == []


def test_subscriber_unregisters_when_consumer_stops() -> None:
    """E1: a closed consumer no longer receives events (no leak per disconnected client)."""
    bus = Events()

    async def scenario() -> None:
        task = asyncio.create_task(_collect(bus, 1))
        await asyncio.sleep(0.01)
        bus.publish("container", "start", "c1", {})
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert bus._subscribers == []


def test_filters() -> None:
    """E1: type, event, container (id, prefix, name), image, label filters; keys AND, values OR."""
    ev = _event(
        action="health_status: healthy", actor="abcdef", name="web", image="busybox", tier="db"
    )
    assert matches(ev, {})
    assert matches(ev, {"type": ["container"]})
    assert not matches(ev, {"type": ["image"]})
    assert matches(ev, {"event": ["health_status"]})
    assert matches(ev, {"event": ["die", "health_status: healthy"]})
    assert matches(ev, {"container": ["web"]})
    assert matches(ev, {"container": ["abc"]})
    assert not matches(ev, {"container": ["db"]})
    assert matches(ev, {"image": ["busybox:latest"]})
    assert not matches(ev, {"image": ["alpine"]})
    assert matches(ev, {"label": ["tier"]}) and matches(ev, {"label": ["tier=db"]})
    assert not matches(ev, {"label": ["tier=web"]})
    assert matches(ev, {"type": ["container"], "container": ["web", "x"]})
    assert not matches(ev, {"type": ["container"], "container": ["x"]})
    img = _event(type="image", action="tag", actor="sha256:1234", name="busybox:latest")
    assert matches(img, {"image": ["busybox"]}) and matches(img, {"image": ["1234"]})
    assert not matches(img, {"container": ["busybox"]})
    assert not matches(ev, {"unknown": ["x"]})


def test_bind_records_daemon_loop() -> None:
    """E1: the daemon binds its loop at start (engine.start calls bind)."""
    bus = Events()
    loop = asyncio.new_event_loop()
    try:
        bus.bind(loop)
        assert bus.loop is loop
    finally:
        loop.close()
