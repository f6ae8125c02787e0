"""The network side of a daemon (re)start (N1, N5): the predefined rows, every bridge and its
tables with the DNAT elements of endpoints that may still be live, their host ports held
again; then, once containers are restored, endpoints, veths and namespaces of containers that
are gone removed, and the names and DNS sockets of running ones served again.

Lifecycle: start() before containers are restored, reconcile() after, close() at shutdown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path

from dockyard import errors
from dockyard.network import netns, spec6
from dockyard.network.attachments import Attachments
from dockyard.network.context import NetworkContext
from dockyard.network.endpoints import Endpoints, bindings, dnats, peer
from dockyard.network.records import EndpointRow
from dockyard.network.usernets import UserNetworks
from dockyard.rollback import best_effort

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, ctx: NetworkContext, usernets: UserNetworks, endpoints: Endpoints,
                 attachments: Attachments) -> None:  # fmt: skip
        self.ctx = ctx
        self.usernets = usernets
        self.endpoints = endpoints
        self.attachments = attachments

    def start(self) -> None:
        """Predefined rows, the bridge and its table (with the DNAT elements of endpoints that
        may still be live), and their host ports held again."""
        row = self.ctx.repo.by_name("bridge")
        stored = IPv4Network(row.doc["Subnet"]) if row and row.doc.get("Subnet") else None
        eps = self.ctx.repo.endpoints(row.id) if row else []
        info = self.ctx.driver.ensure(
            stored, [d for ep in eps for d in dnats(ep)], [peer(ep) for ep in eps]
        )
        gw6 = self.ctx.driver.gw6
        v6 = spec6.Config6(gw6.network) if gw6 is not None else None
        self.ctx.repo.ensure("bridge", "bridge", self.ctx.now(), {
            "Subnet": str(info.subnet), "Gateway": str(info.gateway), "Device": info.device,
            **spec6.doc(v6, v6 is not None)})  # fmt: skip
        self.ctx.repo.ensure("host", "host", self.ctx.now(), {})
        self.ctx.repo.ensure("none", "null", self.ctx.now(), {})
        self.usernets.start_user_networks(dnats, peer)
        for ep in self.ctx.repo.endpoints():  # the gateway endpoints carry the ports
            if not ep.doc.get("ports"):
                continue
            try:
                self.ctx.ports.reserve(ep.container_id, bindings(ep), None)
                self.ctx.ports.proxy(ep.container_id, ep.ip)
            except errors.DockyardError as e:
                log.warning("could not hold the ports of %s again: %s", ep.container_id[:12], e)

    def reconcile(self, running_ids: Callable[[], set[str]]) -> None:
        """After containers were restored: drop endpoints, veths and netns mounts whose owner
        is not running (a daemon crash leaves them)."""
        running = running_ids()
        for ep in self.ctx.repo.endpoints():
            if ep.container_id not in running:
                log.info("removing stale endpoint of %s", ep.container_id[:12])
                self._detach(ep)
            elif not self._recorded(ep):
                # a connect killed before the container's record said so
                log.info("removing the unrecorded endpoint of %s", ep.container_id[:12])
                self._detach_one(ep)
        live = {ep.veth for ep in self.ctx.repo.endpoints()}
        for drv in [self.ctx.driver, *self.ctx.user_drivers.values()]:
            for veth in drv.leftover_veths(live):
                log.info("removing stale veth %s", veth)
                drv.forget_veth(veth)
        self.ctx.driver.reconcile_host_rules()
        self._restore_dns(running)
        if self.ctx.netns_root.is_dir():
            short = {cid[:12] for cid in running}
            for path in self.ctx.netns_root.iterdir():
                if path.name not in short:
                    netns.remove(path)

    def _restore_dns(self, running: set[str]) -> None:
        """Names and DNS sockets of running containers on user networks, after a restart:
        every name first, so no container's server answers before its peers are known (a
        recycle's handed-over sockets hold queries that are answered at once)."""
        serve = []
        for cid in running:
            eps = [
                ep
                for ep in self.ctx.repo.endpoints_of(cid)
                if ep.network_id in self.ctx.user_drivers
            ]
            if not eps:
                continue
            try:
                rec = self.ctx.lookup(cid)
                for ep in eps:
                    row = self.ctx.repo.by_id(ep.network_id)
                    if row is not None:
                        self.endpoints.register(rec, row, ep)
                serve.append((rec, Path(eps[0].doc.get("netns") or "")))
            except Exception as e:  # noqa: BLE001 - one container must not stop the daemon
                log.warning("dns for %s: %s", cid[:12], e)
        for rec, path in serve:
            try:
                self.attachments.serve_dns(rec, path)
            except Exception as e:  # noqa: BLE001
                log.warning("dns for %s: %s", rec.id[:12], e)

    def close(self) -> None:
        self.ctx.dns.close()
        self.ctx.driver.close()

    def _recorded(self, ep: EndpointRow) -> bool:
        row = self.ctx.repo.by_id(ep.network_id)
        if row is None:
            return False
        try:
            rec = self.ctx.lookup(ep.container_id)
        except errors.NotFound:
            return False
        return row.name in ((rec.doc.get("NetworkSettings") or {}).get("Networks") or {})

    def _detach_one(self, ep: EndpointRow) -> None:
        """One network's endpoint of a container that runs on in its others."""
        try:
            self.endpoints.detach_live(ep)
        except errors.DockyardError as e:
            log.warning("could not remove the endpoint of %s: %s", ep.container_id[:12], e)

    def _detach(self, ep: EndpointRow) -> None:
        best_effort([(self.endpoints.detach_live, (ep,)),
                     (self.ctx.ports.release, (ep.container_id,)),
                     (netns.remove, (Path(ep.doc.get("netns") or
                                          self.ctx.netns_root / ep.container_id[:12]),))])  # fmt: skip
