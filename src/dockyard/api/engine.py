"""What the API needs from the composition root, and where handlers find it on a request."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from dockyard.core.events import EventBus
from dockyard.network.service import Networks
from dockyard.services.check import SystemCheck
from dockyard.services.containers.archive import ContainerArchive
from dockyard.services.netgraph import NetworkGraph
from dockyard.services.protocols import ContainerService, ImageService, SystemService
from dockyard.services.provenance import Provenance
from dockyard.services.swarm import Swarm
from dockyard.services.volumes import Volumes


class Engine(Protocol):
    """The services the handlers call; built once by the daemon (engine.py)."""

    @property
    def containers(self) -> ContainerService: ...
    @property
    def images(self) -> ImageService: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def system(self) -> SystemService: ...
    @property
    def check(self) -> SystemCheck: ...
    @property
    def volumes(self) -> Volumes: ...
    @property
    def archive(self) -> ContainerArchive: ...
    @property
    def swarm(self) -> Swarm: ...
    @property
    def networks(self) -> Networks: ...
    @property
    def netgraph(self) -> NetworkGraph: ...
    @property
    def provenance(self) -> Provenance: ...


ENGINE = web.AppKey("engine", Engine)
# The API version the client asked for (from the /v1.xx prefix, else the newest): outputs that
# changed between versions branch on it.
API_VERSION = web.RequestKey("api_version", tuple)


def engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def api_version(request: web.Request) -> tuple[int, int]:
    major, minor = request.get(API_VERSION, (1, 44))
    return int(major), int(minor)
