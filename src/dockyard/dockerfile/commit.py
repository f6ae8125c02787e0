"""Making one step's image (MISSION S1): a child of the step's parent image with one history
entry and, for RUN/COPY/ADD, one layer (even an empty one, as the legacy builder keeps it);
metadata steps add history with `empty_layer`. Layers go through the image service's writer, so
they are content-addressed and shared on disk with every image that has the same chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from dockyard.core import timefmt
from dockyard.core.types import Json
from dockyard.dockerfile.images import BuildImages
from dockyard.images import config as image_config


class StepCommitter:
    def __init__(self, images: BuildImages) -> None:
        self.images = images

    def commit(
        self,
        parent_id: str | None,
        config: Json,
        created_by: str,
        layer: BinaryIO | Iterable[bytes] | None,
        container_config: Json | None = None,
        container_id: str = "",
    ) -> str:
        """Store the child image; returns its id. `layer` None = a metadata-only step."""
        writer = self.images.writer
        parent = self.images.get(parent_id) if parent_id else None
        parent_doc = self.images.config(parent.id) if parent else None
        diff_id = writer.ingest_tar(layer) if layer is not None else None
        created = timefmt.rfc3339nano()
        doc = image_config.new_image(
            parent=parent_doc,
            config=config,
            diff_id=diff_id,
            history=image_config.history_entry(created, created_by, empty_layer=layer is None),
            created=created,
            container=container_id,
            container_config=container_config,
        )
        raw = image_config.canonical_bytes(doc)
        try:
            with self.images.lock:
                base = parent.top_chain_id if parent else None
                top = writer.register_chain([diff_id] if diff_id else [], base=base)
                image_id, _ = writer.store(raw, top, parent.id if parent else None)
        except BaseException:
            if diff_id:
                writer.forget([diff_id])
            raise
        return str(image_id)
