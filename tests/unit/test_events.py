"""E1: the event bus: thread-safe publish, filters, `since` replay from the ring, `until` end."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from dockyard import errors
from dockyard.api.events import event_time
from dockyard.core.events import Event, container_attributes, publish_volumes
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
    """E1: a past `until` ends after the replay; a future one ends when it passes; either bound
    alone replays the ring up to it, as dockerd's loadBufferedEvents."""
    bus = Events()
    bus.publish("container", "create", "c1", {})
    until_past = time.time()
    time.sleep(0.01)
    bus.publish("container", "start", "c1", {})

    async def scenario() -> tuple[list[str], list[str], list[str], float]:
        past = [e.action for e in await _collect(bus, 99, since=0, until=until_past)]
        only_until = [e.action for e in await _collect(bus, 99, since=None, until=until_past)]
        t0 = time.monotonic()
        future = [e.action for e in await _collect(bus, 99, since=None, until=time.time() + 0.2)]
        return past, only_until, future, time.monotonic() - t0

    past, only_until, future, waited = asyncio.run(scenario())
    assert past == ["create"] and only_until == ["create"]
    assert future == ["create", "start"] and 0.15 <= waited < 2


def test_no_bounds_no_replay() -> None:
    """E1: without `since` and `until` only live events come, as dockerd."""
    bus = Events()
    bus.publish("container", "create", "c1", {})

    async def scenario() -> list[str]:
        task = asyncio.create_task(_collect(bus, 1))
        await asyncio.sleep(0.01)
        bus.publish("container", "start", "c1", {})
        return [e.action for e in await asyncio.wait_for(task, 5)]

    assert asyncio.run(scenario()) == ["start"]


def test_ring_is_dockerds_size() -> None:
    """E1: dockerd keeps the last 256 events for replay."""
    bus = Events()
    for i in range(300):
        bus.publish("container", f"a{i}", "c1", {})
    kept = bus.recent()
    assert len(kept) == 256 and kept[0].action == "a44" and kept[-1].action == "a299"


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
    """E1: dockerd's filter.go: keys AND, values OR (label values AND); actor keys match the ID
    or the `name` attribute by prefix; `image` exactly, also without its tag; unknown keys are
    ignored."""
    ev = _event(
        action="health_status: healthy", actor="abcdef", name="web", image="busybox", tier="db"
    )
    assert matches(ev, {})
    assert matches(ev, {"type": ["container"]})
    assert not matches(ev, {"type": ["image"]})
    assert matches(ev, {"event": ["health_status"]})
    assert matches(ev, {"event": ["die", "health_status: healthy"]})
    assert not matches(ev, {"event": ["health"]})  # a prefix only with the three fuzzy names
    assert matches(ev, {"container": ["web"]}) and matches(ev, {"container": ["we"]})
    assert matches(ev, {"container": ["abc"]})
    assert not matches(ev, {"container": ["db"]})
    assert matches(ev, {"image": ["busybox"]})
    assert not matches(ev, {"image": ["busybox:latest"]})  # "busybox" as given, as dockerd
    assert matches(_event(image="busybox:latest"), {"image": ["busybox"]})
    assert not matches(ev, {"image": ["alpine"]})
    assert matches(ev, {"label": ["tier"]}) and matches(ev, {"label": ["tier=db"]})
    assert not matches(ev, {"label": ["tier=web"]})
    assert matches(ev, {"label": ["tier=db", "name=web"]})
    assert not matches(ev, {"label": ["tier=db", "name=x"]})  # every label must match
    assert matches(ev, {"type": ["container"], "container": ["web", "x"]})
    assert not matches(ev, {"type": ["container"], "container": ["x"]})
    assert matches(ev, {"scope": ["local"]}) and not matches(ev, {"scope": ["swarm"]})
    assert matches(ev, {"unknown": ["x"]})
    img = _event(type="image", action="tag", actor="sha256:1234", name="busybox:latest")
    assert matches(img, {"image": ["busybox"]}) and matches(img, {"image": ["busybox:latest"]})
    assert matches(img, {"image": ["sha256:1234"]}) and not matches(img, {"image": ["1234"]})
    assert matches(img, {"container": ["busybox"]})  # dockerd: a name prefix, of any type
    vol = _event(type="volume", action="create", actor="data", driver="local")
    assert matches(vol, {"volume": ["da"]}) and not matches(vol, {"volume": ["x"]})
    # as in dockerd, `container=` is not limited to container events
    assert matches(vol, {"container": ["data"]})
    net = _event(type="network", action="connect", actor="n1", name="front", container="abcdef")
    assert matches(net, {"network": ["front"]}) and not matches(net, {"container": ["abcdef"]})


def test_container_attributes_merge_as_dockerd() -> None:
    """E6: the action's attributes, then the labels over them, then image and name over all."""
    config = {"Image": "busybox", "Labels": {"name": "label-name", "signal": "x", "tier": "db"}}
    attrs = container_attributes(config, "/web", {"signal": "9"})
    assert attrs == {"signal": "x", "tier": "db", "image": "busybox", "name": "web"}
    assert "image" not in container_attributes({}, "web", {})


def test_volume_mount_events() -> None:
    """E6: mount carries destination, read/write and propagation; unmount driver and
    container; binds and tmpfs have none."""
    bus = Events()
    mounts = [
        {"Type": "volume", "Name": "v2", "Destination": "/z", "Driver": "local", "RW": False},
        {"Type": "bind", "Source": "/tmp", "Destination": "/b"},
        {"Type": "volume", "Name": "v1", "Destination": "/a", "Driver": "local", "RW": True,
         "Propagation": ""},
    ]  # fmt: skip
    publish_volumes(bus, "c1", mounts, "mount")
    publish_volumes(bus, "c1", mounts, "unmount")
    got = [(e.action, e.actor_id, e.attributes) for e in bus.recent()]
    assert got == [
        ("mount", "v1", {"driver": "local", "container": "c1", "destination": "/a",
                         "read/write": "true", "propagation": ""}),
        ("mount", "v2", {"driver": "local", "container": "c1", "destination": "/z",
                         "read/write": "false", "propagation": ""}),
        ("unmount", "v1", {"driver": "local", "container": "c1"}),
        ("unmount", "v2", {"driver": "local", "container": "c1"}),
    ]  # fmt: skip


def test_event_time_parses_as_dockerd() -> None:
    """E6: "SECONDS[.FRACTION]" with Go's ParseInt errors (dockerd's 500 and words)."""
    assert event_time("") is None
    assert event_time("1700000000") == 1700000000
    assert event_time("1700000000.5") == 1700000000.5
    assert event_time("12.000000001") == pytest.approx(12.000000001)
    for raw, part in (("abc", "abc"), ("1.5x", "5x"), ("1.", "")):
        with pytest.raises(errors.System) as exc:
            event_time(raw)
        assert exc.value.message == f'strconv.ParseInt: parsing "{part}": invalid syntax'


def test_legacy_fields() -> None:
    """E6: status/id/from for container and image events only, `from` the image."""
    c = Event("container", "start", "c1", {"image": "busybox", "name": "w"}, 5_000_000_001)
    assert c.to_json() == {
        "status": "start", "id": "c1", "from": "busybox", "Type": "container",
        "Action": "start", "Actor": {"ID": "c1", "Attributes": {"image": "busybox", "name": "w"}},
        "scope": "local", "time": 5, "timeNano": 5_000_000_001,
    }  # fmt: skip
    assert list(c.to_json())[:4] == ["status", "id", "from", "Type"]  # Go's field order
    v = Event("volume", "create", "v", {"driver": "local"}, 1).to_json()
    assert "status" not in v and "id" not in v and "from" not in v
    pruned = Event("container", "prune", "", {"reclaimed": "0"}, 1).to_json()
    assert pruned["status"] == "prune" and "id" not in pruned and "from" not in pruned
    img = Event("image", "tag", "sha256:1", {"name": "a:1", "image": "x"}, 1).to_json()
    assert img["id"] == "sha256:1" and "from" not in img


def test_bind_records_daemon_loop() -> None:
    """E1: the daemon binds its loop at start (engine.start calls bind)."""
    bus = Events()
    loop = asyncio.new_event_loop()
    try:
        bus.bind(loop)
        assert bus.loop is loop
    finally:
        loop.close()
