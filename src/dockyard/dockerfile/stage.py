"""What the build steps share (MISSION S1): the per-stage state, the build error, and the
progress message helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.core.types import Json
from dockyard.images import config as image_config

DEFAULT_SHELL = ["/bin/sh", "-c"]


class BuildError(Exception):
    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class StageState:
    image_id: str | None = None
    config: Json = field(default_factory=image_config.empty_container_config)
    args: dict[str, str | None] = field(default_factory=dict)
    busted: bool = False


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def stream(text: str) -> Json:
    return {"stream": text}
