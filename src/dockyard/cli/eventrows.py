"""`events` output: docker-cli's default line and the value `--format` templates see (its
events.Message: every field there, `json` marshalling only what the daemon sent)."""

from __future__ import annotations

import datetime as dt
from typing import Any


class EventRow:
    """An event as the docker CLI decodes it: `.Status`, `.ID` and `.From` read "" on events
    without the legacy fields; `{{json .}}` gives the daemon's object unchanged."""

    def __init__(self, event: dict[str, Any]) -> None:
        self._event = event
        self.Type = event.get("Type", "")
        self.Action = event.get("Action", "")
        self.Actor = {"ID": "", "Attributes": {}, **(event.get("Actor") or {})}
        self.Scope = event.get("scope", "")
        self.Time = int(event.get("time") or 0)
        self.TimeNano = int(event.get("timeNano") or 0)
        self.Status = event.get("status", "")
        self.ID = event.get("id", "")
        self.From = event.get("from", "")

    def as_json(self) -> dict[str, Any]:
        return self._event


def event_line(event: dict[str, Any]) -> str:
    """docker-cli's default event line: nano timestamp, type, action, actor id, attributes."""
    nano = int(event.get("timeNano") or 0) or int(event.get("time") or 0) * 1_000_000_000
    stamp = dt.datetime.fromtimestamp(nano // 1_000_000_000).astimezone()
    zone = stamp.strftime("%z")
    zone = "Z" if zone == "+0000" else f"{zone[:3]}:{zone[3:]}"
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nano % 1_000_000_000:09d}{zone} "
    actor = event.get("Actor") or {}
    text += f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        text += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return text
