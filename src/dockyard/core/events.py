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
        secs = self.time_nano // 1_000_000_000
        body: Json = {
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": self.attributes},
            "scope": "local",
            "time": secs,
            "timeNano": self.time_nano,
        }
        if self.type in ("container", "image"):  # the pre-1.22 fields docker-py still reads
            body["status"] = self.action
            body["id"] = self.actor_id
            if "image" in self.attributes:
                body["from"] = self.attributes["image"]
        return body


class EventBus(Protocol):
    def publish(
        self, type: str, action: str, actor_id: str, attributes: dict[str, str]
    ) -> None: ...
    def subscribe(
        self, since: float | None, until: float | None, filters: Filters
    ) -> AsyncIterator[Event]: ...
