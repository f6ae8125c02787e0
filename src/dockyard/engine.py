"""The composition root: builds every store, driver and service once and wires them together.
Nothing else constructs these objects; the API server receives the finished Engine."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from dockyard import heap
from dockyard.config import Config
from dockyard.core import timefmt
from dockyard.core.locks import KeyedLocks
from dockyard.distribution.endpoints import RegistryOptions
from dockyard.handover import Handover
from dockyard.images.content import ContentStore
from dockyard.network import netlink
from dockyard.network import records as network_state
from dockyard.network.setup import build_networks
from dockyard.runtime.cgroups import CgroupHost
from dockyard.runtime.shimbuild import ensure_shim
from dockyard.services.build import Build
from dockyard.services.check import SystemCheck
from dockyard.services.containers.archive import ContainerArchive
from dockyard.services.containers.launcher import Launcher
from dockyard.services.containers.service import Containers
from dockyard.services.events import Events
from dockyard.services.images import Images
from dockyard.services.netgraph import NetworkGraph
from dockyard.services.provenance import Provenance
from dockyard.services.swarm import NetworkOps, Swarm
from dockyard.services.system import System
from dockyard.services.volumes import Volumes
from dockyard.state import buildcache as buildcache_state
from dockyard.state import containers as containers_state
from dockyard.state import images as images_state
from dockyard.state import layerblobs as layerblobs_state
from dockyard.state import layers as layers_state
from dockyard.state import volumes as volumes_state
from dockyard.state.containers import ContainerRepo
from dockyard.state.db import Database
from dockyard.storage import mount
from dockyard.storage.layers import Layers
from dockyard.storage.overlay2 import Overlay2
from dockyard.volumes.hooks import VolumeMounts, volume_users
from dockyard.volumes.local import LocalDriver
from dockyard.volumes.store import VolumeStore

log = logging.getLogger(__name__)


@dataclass
class EngineOptions:
    cgroups: CgroupHost = field(default_factory=lambda: CgroupHost.detect([]))
    bridge: str = "dockyard0"  # dockerd's --bridge / --bip / --default-address-pool / --iptables
    bip: str = ""
    ipv6: bool = False  # dockerd's --ipv6 / --fixed-cidr-v6: the default bridge's IPv6 subnet
    fixed_cidr_v6: str = ""
    default_address_pools: tuple[str, ...] = ()
    iptables: bool = True
    registry: RegistryOptions = field(default_factory=RegistryOptions)


class Engine:
    """Built bottom-up, each piece from pieces already made: the stores, then the services that
    use them, the container service last."""

    def __init__(self, cfg: Config, opts: EngineOptions | None = None) -> None:
        opts = opts or EngineOptions()
        cfg.ensure_dirs()
        self.cfg = cfg
        self.db = Database.open(
            cfg.db_path,
            schemas=[
                layers_state.SCHEMA,
                images_state.SCHEMA,
                containers_state.SCHEMA,
                buildcache_state.SCHEMA,
                volumes_state.SCHEMA,
                network_state.SCHEMA,
                layerblobs_state.SCHEMA,
            ],
        )
        heap.on_idle(self.db.release_memory)
        self.driver = Overlay2(cfg.overlay_root)
        self.layers = Layers(self.db, self.driver)
        self.events = Events()
        self.content = ContentStore(cfg.content_root, cfg.tmp_root)
        # The container records and their lifecycle locks come first: volumes, networks and
        # images ask them who uses what.
        records = ContainerRepo(self.db)
        locks = KeyedLocks()
        self.volume_store = VolumeStore(
            self.db,
            LocalDriver(cfg.data_root / "volumes"),
            users=lambda: volume_users(records.all()),
            publish=self.events.publish,
        )
        self.volumes = Volumes(self.volume_store)
        self.networks = build_networks(
            cfg, self.db, opts.bridge, opts.bip, opts.default_address_pools, opts.iptables,
            records, locks, self.events.publish, opts.ipv6, opts.fixed_cidr_v6,
        )  # fmt: skip
        self.launcher = Launcher(
            cfg,
            self.layers,
            ensure_shim(cfg.data_root / "bin"),
            opts.cgroups,
            mounts=VolumeMounts(self.volume_store, cfg.data_root, lookup=records.resolve),
            network=self.networks,
        )
        self.images = Images(
            self.db,
            self.content,
            self.layers,
            self.events,
            is_in_use=records.in_use,
            users_of=records.using_image,
            registry=opts.registry,
        )
        self.containers = Containers(
            cfg,
            records,
            self.layers,
            self.images,
            self.events,
            self.launcher,
            locks,
            interfaces=self.networks,
        )
        # the network graph reads the network rows and the containers' parsed views (#18, B1)
        self.netgraph = NetworkGraph(self.networks.ctx.repo, records.all_views)
        self.archive = ContainerArchive(
            self.containers.get, self.layers, self.events, containers_root=cfg.containers_root
        )
        self.system = System(
            cfg, records, self.images, self.layers, self.volumes, self.launcher.cgroups
        )
        self.build = Build(cfg, self.db, self.images, self.layers, self.containers)
        self.provenance = Provenance(self.images, self.layers, self.containers.get)  # B1
        self.check = SystemCheck(
            self.images,
            self.layers,
            self.containers.check,
            partial(self.containers.remove, force=True, volumes=False),
        )
        self.swarm = Swarm(cfg.data_root / "swarm" / "state.json", NetworkOps(self.networks),
                           timefmt.rfc3339_fixed, netlink.default_address)  # fmt: skip
        self.networks.ctx.swarm_active = self.swarm.active
        self.system.swarm_info = self.swarm.info

    async def start(self, handover: Handover | None = None) -> None:
        """`handover`: what a recycled predecessor handed over (recycle.py): its event ring,
        finished execs and DNS sockets are taken, and its containers re-adopted as its own."""
        loop = asyncio.get_running_loop()
        self.containers.bind_loop(loop)
        self.launcher.loop = loop
        self.events.bind(loop)
        self.networks.dns.bind(loop)
        left = await asyncio.to_thread(self.content.clean_tmp)
        if left:
            log.info("removed %d temporary files a previous daemon left", left)
        await asyncio.to_thread(self.layers.reconcile)
        tops = [r.top_chain_id for r in self.images.repo.all() if r.top_chain_id]
        await asyncio.to_thread(self.layers.reconcile_refs, tops)
        await asyncio.to_thread(self.images.sweep_content)
        await asyncio.to_thread(self.volume_store.reconcile)
        if handover is not None:  # before the network's start holds the ports again
            self.events.restore(handover.state.get("events", []))
            self.containers.execs.restore(handover.state.get("execs", []))
            self.networks.dns.adopt(handover.take_prefix("dns/"))
            self.networks.ctx.ports.adopt(handover.take_prefix("port/"))
        await asyncio.to_thread(self.networks.start)
        self.launcher.private_trees = await asyncio.to_thread(self._hold_mount_trees)
        await asyncio.to_thread(self.containers.restore, handover is not None)
        await asyncio.to_thread(self.networks.reconcile, self._running_ids)
        self.networks.dns.close_inherited()
        self.networks.ctx.ports.close_inherited()

    def busy(self) -> str | None:
        """What keeps the daemon from replacing itself now (recycle.py), or None."""
        if self.networks.ctx.ports.proxied():
            return "a userland proxy relays a [::1] port"  # it dies with its daemon
        return self.containers.busy()

    def running(self) -> int:
        """Containers running or paused: each has its exit watcher (recycle.py)."""
        return len(self.containers.shared.watchers)

    def hand_over(self, handover: Handover) -> None:
        """A recycle: what only this process holds, for its successor's `start`."""
        handover.state["events"] = self.events.export()
        handover.state["execs"] = self.containers.execs.export()
        self.networks.dns.hand_over(handover.keeper("dns/"))
        self.networks.ctx.ports.hand_over(handover.keeper("port/"))

    def reload(self, debug: bool, registry: RegistryOptions) -> None:
        """SIGHUP's reload of daemon.json (daemon.py): the registry settings, then dockerd's
        `reload` daemon event (D-dpy6-3)."""
        self.images.reload_registry(registry)
        attrs = self.system.reload_attributes(debug, registry)
        self.events.publish("daemon", "reload", self.system.info_id(), attrs)

    def _running_ids(self) -> set[str]:
        return {
            r.id for r in self.containers.repo.all() if r.state["Status"] in ("running", "paused")
        }

    def _hold_mount_trees(self) -> list[Path]:
        return [tree for tree in self.cfg.mount_trees if mount.hold(tree)]

    async def close(self) -> None:
        """Leave containers running (live-restore): their shims keep logs and exit codes."""
        self.db.close()
        # removed layers' and containers' files still in their trash are deleted first
        await asyncio.to_thread(self.driver.close)
        await asyncio.to_thread(self.containers.shared.trash.close)
        for tree in self.launcher.private_trees:
            mount.release(tree)
