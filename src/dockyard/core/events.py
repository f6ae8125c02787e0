"""Engine events (`GET /events`, `docker events`): the record every service publishes and the bus
contract. The bus itself is services/events.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from dockyard.core.types import Filters, Json


@dataclass(frozen=True)
class Event:
    type: str  # "container" | "image" | "volume" | "network" | "daemon"
    action: str  # "create", "start", "die", "destroy", "tag", "untag", "delete", ...
    actor_id: str
    attributes: dict[str, str]
    time_nano: int

    def to_json(self) -> Json:
        """dockerd's events.Message, in its field order: the pre-1.22 `status`/`id`/`from`
        (container and image events only, empty ones omitted as Go's omitempty) first."""
        body: Json = {}
        if self.type in ("container", "image"):  # docker-py still reads them
            body["status"] = self.action
            if self.actor_id:
                body["id"] = self.actor_id
            if self.type == "container" and self.attributes.get("image"):
                body["from"] = self.attributes["image"]
        body.update(
            Type=self.type,
            Action=self.action,
            # Go marshals a map with its keys sorted
            Actor={"ID": self.actor_id, "Attributes": dict(sorted(self.attributes.items()))},
            scope="local",
            time=self.time_nano // 1_000_000_000,
            timeNano=self.time_nano,
        )
        return body


def container_attributes(config: Json, name: str, extra: dict[str, str]) -> dict[str, str]:
    """A container event's Actor.Attributes as dockerd merges them: the action's own, then the
    container's labels over them, then `image` (when set) and `name` over both."""
    attrs = dict(extra)
    attrs.update({k: str(v) for k, v in (config.get("Labels") or {}).items()})
    if config.get("Image"):
        attrs["image"] = str(config["Image"])
    attrs["name"] = name.lstrip("/")
    return attrs


def publish_volumes(bus: EventBus, cid: str, mounts: list[Json], action: str) -> None:
    """dockerd's volume `mount`/`unmount` events for a container's named and anonymous volumes
    (its `.Mounts` of type volume), in mount order."""
    for m in sorted(mounts, key=lambda m: str(m.get("Destination", ""))):
        if m.get("Type") != "volume" or not m.get("Name"):
            continue
        attrs = {"driver": str(m.get("Driver") or "local"), "container": cid}
        if action == "mount":
            attrs["destination"] = str(m.get("Destination", ""))
            attrs["read/write"] = "true" if m.get("RW", True) else "false"
            attrs["propagation"] = str(m.get("Propagation") or "")
        bus.publish("volume", action, str(m["Name"]), attrs)


class EventBus(Protocol):
    def publish(
        self, type: str, action: str, actor_id: str, attributes: dict[str, str]
    ) -> None: ...
    def subscribe(
        self, since: float | None, until: float | None, filters: Filters
    ) -> AsyncIterator[Event]: ...
