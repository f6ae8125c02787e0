"""Docker Engine API shapes as the services pass them: plain dicts as in moby's swagger.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
Filters = dict[str, list[str]]  # a decoded `filters` query parameter: {"label": ["a=b"], ...}


@dataclass(frozen=True)
class AttachOptions:
    """What `POST /containers/{id}/attach` (and its websocket form) asks for."""

    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    logs: bool = False  # the log so far first
    stream: bool = False  # then the live streams
    detach_keys: str = ""  # Docker's key list; "" for ctrl-p,ctrl-q
