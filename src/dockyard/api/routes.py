"""Every Engine API route, in one declarative list. Each is served with and without the
`/v{major}.{minor}` prefix (api/router.py splits it off). Image names may contain slashes, hence the greedy `{name:.+}`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp.typedefs import Handler

from dockyard.api import (
    archive,
    attachws,
    build,
    containers,
    events,
    exec,
    images,
    networks,
    provenance,
    swarm,
    system,
    volumes,
)
from dockyard.api.dashboard import control as dashboard
from dockyard.api.router import AtOnce, EngineRouter

IMAGE = "{name:.+}"
SWARM_KINDS = ("services", "secrets", "configs", "tasks")  # tasks last: no DELETE


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    # one small body in, one out, never a stream: api/lean.py may serve it without aiohttp
    small: bool = False
    # a small route's JSON answer made synchronously from what is kept, when there is one:
    # api/lean.py sends it without a task or a response object (None: the handler answers)
    at_once: AtOnce | None = None


ROUTES: list[Route] = [
    # system
    Route("GET", "/_ping", system.ping, small=True),
    Route("HEAD", "/_ping", system.ping, small=True),
    Route("GET", "/version", system.version, small=True),
    Route("GET", "/info", system.info, small=True),
    Route("GET", "/system/df", system.df),
    # volumes (S8)
    Route("GET", "/volumes", volumes.list_, small=True),
    Route("POST", "/volumes/create", volumes.create, small=True),
    Route("POST", "/volumes/prune", volumes.prune),
    Route("GET", "/volumes/{name}", volumes.inspect, small=True),
    Route("DELETE", "/volumes/{name}", volumes.remove, small=True),
    Route("GET", "/events", events.events),
    # containers (fixed paths before the {id} ones)
    Route("POST", "/containers/create", containers.create),
    Route("GET", "/containers/json", containers.list_, small=True),
    Route("POST", "/containers/prune", containers.prune),
    Route(
        "GET",
        "/containers/{id:.+}/json",
        containers.inspect,
        small=True,
        at_once=containers.inspect_at_once,
    ),  # or parent/alias
    Route("POST", "/containers/{id}/start", containers.start),
    Route("POST", "/containers/{id}/stop", containers.stop),
    Route("POST", "/containers/{id}/restart", containers.restart),
    Route("POST", "/containers/{id}/kill", containers.kill),
    Route("POST", "/containers/{id}/pause", containers.pause),
    Route("POST", "/containers/{id}/unpause", containers.unpause),
    Route("POST", "/containers/{id}/wait", containers.wait),
    Route("POST", "/containers/{id}/update", containers.update),
    Route("GET", "/containers/{id}/logs", containers.logs),
    Route("GET", "/containers/{id}/top", containers.top),
    Route("GET", "/containers/{id}/stats", containers.stats),
    Route("POST", "/containers/{id}/rename", containers.rename),
    Route("GET", "/containers/{id}/changes", containers.changes),
    Route("GET", "/containers/{id}/export", containers.export),
    Route("HEAD", "/containers/{id}/archive", archive.head),
    Route("GET", "/containers/{id}/archive", archive.get),
    Route("PUT", "/containers/{id}/archive", archive.put),
    Route("POST", "/containers/{id}/resize", containers.resize),
    Route("POST", "/containers/{id}/attach", containers.attach),
    Route("GET", "/containers/{id}/attach/ws", attachws.attach_ws),
    Route("DELETE", "/containers/{id:.+}", containers.remove),  # `parent/alias` for ?link=1
    Route("POST", "/commit", containers.commit),
    # exec
    Route("POST", "/containers/{id}/exec", exec.create),
    Route("POST", "/exec/{id}/start", exec.start),
    Route("POST", "/exec/{id}/resize", exec.resize),
    Route("GET", "/exec/{id}/json", exec.inspect),
    # images (fixed paths before the greedy name ones)
    Route("GET", "/images/json", images.list_, small=True),
    Route("POST", "/images/create", images.create),
    Route("GET", "/images/get", images.save),
    Route("POST", "/images/load", images.load),
    Route("POST", "/images/prune", images.prune),
    Route("GET", f"/images/{IMAGE}/json", images.inspect, small=True),
    Route("GET", f"/images/{IMAGE}/history", images.history),
    Route("GET", f"/images/{IMAGE}/get", images.save),
    Route("POST", f"/images/{IMAGE}/tag", images.tag),
    Route("POST", f"/images/{IMAGE}/push", images.push),
    Route("POST", "/auth", images.login),
    Route("DELETE", f"/images/{IMAGE}", images.remove),
    # build
    Route("POST", "/build", build.build),
    Route("POST", "/build/prune", build.prune),
    # networks
    Route("GET", "/networks", networks.list_, small=True),
    Route("GET", "/networks/{id}", networks.inspect, small=True),
    Route("POST", "/networks/create", networks.create),
    Route("POST", "/networks/prune", networks.prune),
    Route("DELETE", "/networks/{id}", networks.remove),
    Route("POST", "/networks/{id}/connect", networks.connect),
    Route("POST", "/networks/{id}/disconnect", networks.disconnect),
    # swarm mode: one node, networks only (api/swarm.py)
    Route("POST", "/swarm/init", swarm.init),
    Route("POST", "/swarm/join", swarm.join),
    Route("POST", "/swarm/leave", swarm.leave),
    Route("GET", "/swarm", swarm.inspect),
    Route("GET", "/swarm/unlockkey", swarm.unimplemented("unlock keys")),
    Route("POST", "/swarm/update", swarm.versioned("swarm")),
    Route("POST", "/swarm/unlock", swarm.unimplemented("unlock")),
    Route("GET", "/nodes", swarm.nodes),
    Route("GET", "/nodes/{id}", swarm.node),
    Route("DELETE", "/nodes/{id}", swarm.unimplemented("node removal")),
    *(Route("GET", f"/{kind}", swarm.listing(kind)) for kind in SWARM_KINDS),
    Route("POST", "/services/create", swarm.unimplemented("services")),
    Route("POST", "/secrets/create", swarm.unimplemented("secrets")),
    Route("POST", "/configs/create", swarm.unimplemented("configs")),
    *(Route("GET", f"/{kind}/{{id}}", swarm.unimplemented(kind)) for kind in SWARM_KINDS),
    *(Route("DELETE", f"/{kind}/{{id}}", swarm.unimplemented(kind)) for kind in SWARM_KINDS[:-1]),
    Route("GET", "/services/{id}/logs", swarm.unimplemented("services")),
    Route("GET", "/tasks/{id}/logs", swarm.unimplemented("tasks")),
    Route("POST", "/services/{id}/update", swarm.versioned("service")),
    Route("POST", "/nodes/{id}/update", swarm.versioned("node")),
    Route("POST", "/secrets/{id}/update", swarm.versioned("secret", detail=False)),
    Route("POST", "/configs/{id}/update", swarm.versioned("config", detail=False)),
    # dockyard extensions
    Route("POST", "/dockyard/images/bootstrap", images.bootstrap),
    Route("GET", "/dockyard/dashboard", dashboard.locate),  # #18, B1
    Route("POST", "/dockyard/dashboard", dashboard.start),
    Route("GET", "/dockyard/network/graph", networks.graph),
    Route("GET", f"/dockyard/images/{IMAGE}/explain", provenance.explain_image),  # B1
    Route("GET", f"/dockyard/images/{IMAGE}/layers", provenance.image_layers),
    Route("GET", "/dockyard/containers/{id}/explain", provenance.explain_container),
    Route("POST", "/dockyard/system/check", system.check),
]


def register(router: EngineRouter, routes: list[Route] = ROUTES) -> None:
    for route in routes:
        router.add(route.method, route.path, route.handler, route.small, route.at_once)
