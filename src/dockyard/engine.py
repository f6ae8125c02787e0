"""The composition root: builds every store, driver and service once and wires them together.
Nothing else constructs these objects; the API server receives the finished Engine."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from dockyard.config import Config
from dockyard.images.content import ContentStore
from dockyard.runtime.shimbuild import ensure_shim
from dockyard.services.containers.hooks import BasicNetwork, NoMounts
from dockyard.services.containers.launcher import Launcher
from dockyard.services.containers.service import Containers
from dockyard.services.events import Events
from dockyard.services.images import Images
from dockyard.services.system import System
from dockyard.state import containers as containers_state
from dockyard.state import images as images_state
from dockyard.state import layers as layers_state
from dockyard.state.containers import ContainerRepo
from dockyard.state.db import Database
from dockyard.storage.layers import Layers
from dockyard.storage.overlay2 import Overlay2

log = logging.getLogger(__name__)


@dataclass
class EngineOptions:
    cgroup_parent: str = "dockyard"


class Engine:
    def __init__(self, cfg: Config, opts: EngineOptions | None = None) -> None:
        opts = opts or EngineOptions()
        cfg.ensure_dirs()
        self.cfg = cfg
        self.containers: Containers  # built last; the lambdas below reach it late
        self.db = Database.open(
            cfg.db_path,
            schemas=[layers_state.SCHEMA, images_state.SCHEMA, containers_state.SCHEMA],
        )
        self.driver = Overlay2(cfg.overlay_root)
        self.layers = Layers(self.db, self.driver)
        self.events = Events()
        self.content = ContentStore(cfg.content_root, cfg.tmp_root)
        self.launcher = Launcher(
            cfg,
            self.layers,
            ensure_shim(cfg.data_root / "bin"),
            opts.cgroup_parent,
            mounts=NoMounts(),
            network=BasicNetwork(lambda ref: self.containers.get(ref)),
        )
        # Images ask "is this image used?" of the container service, built just after.
        self.images = Images(
            self.db,
            self.content,
            self.layers,
            self.events,
            is_in_use=lambda image_id: self.containers.is_image_in_use(image_id),
            users_of=lambda image_id: self.containers.users_of_image(image_id),
        )
        self.containers = Containers(
            cfg, ContainerRepo(self.db), self.layers, self.images, self.events, self.launcher
        )
        self.system = System(cfg, self.containers, self.images, self.layers)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.containers.loop = loop
        self.launcher.loop = loop
        self.events.bind(loop)
        await asyncio.to_thread(self.layers.reconcile)
        await asyncio.to_thread(self.containers.restore)

    async def close(self) -> None:
        """Leave containers running (live-restore): their shims keep logs and exit codes."""
        self.db.close()
