"""What the builder asks of the image service (services/images.py implements it): lookups, the
writer and its lock for each step's image, and a FROM's pull."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

from dockyard.core.activity import Activity
from dockyard.core.types import Json
from dockyard.images.reference import Reference
from dockyard.images.writer import ImageWriter
from dockyard.state.images import ImageRecord, ImageRepo


class BuildImages(Protocol):
    @property
    def repo(self) -> ImageRepo: ...
    @property
    def writer(self) -> ImageWriter: ...
    @property
    def lock(self) -> threading.RLock: ...
    @property
    def activity(self) -> Activity: ...  # held from the context's unpacking to the end
    def resolve(self, ref: str) -> ImageRecord: ...  # errors.NotFound in Docker's words
    def get(self, image_id: str) -> ImageRecord: ...
    def config(self, image_id: str) -> Json: ...
    def pull_progress(self, ref: str, tag: str | None) -> Iterator[bytes]: ...
    def tag_as(self, image_id: str, target: Reference) -> str | None: ...  # `build -t`
