"""User-defined bridge networks (N5): create/rm/prune, one BridgeDriver (own bridge `dy-<id12>`,
own nft tables, hence isolation from every other network) per network. A container's endpoints
on them are endpoints.py's.

Lifecycle of a network: create (validate, choose the subnet, bridge + tables, row: rolled back
as one) -> endpoints come and go -> rm (409 while endpoints exist) or prune."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from ipaddress import IPv4Interface, IPv4Network, IPv6Network
from typing import Any

from dockyard import errors
from dockyard.core import timefmt
from dockyard.core.filters import prune_selector
from dockyard.core.types import Json
from dockyard.crashpoints import crashpoint
from dockyard.network import netlink, overlay, spec, spec6
from dockyard.network.bridge import BridgeDriver
from dockyard.network.context import NetworkContext
from dockyard.network.records import EndpointRow, NetworkRow
from dockyard.rollback import Rollback

log = logging.getLogger(__name__)

PREDEFINED = ("bridge", "host", "none")
INGRESS_SUBNET = IPv4Network("10.0.0.0/24")  # dockerd's `ingress` network
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)


class UserNetworks:
    def __init__(self, ctx: NetworkContext) -> None:
        self.ctx = ctx
        self._create_lock = threading.Lock()

    # ---- networks ----------------------------------------------------------------------

    def create(self, body: Json) -> Json:
        wanted = spec.parse(body)
        if wanted.driver == spec.OVERLAY and not self.ctx.swarm_active():
            raise errors.System(NOT_A_MANAGER)  # a 500, as dockerd 20.10
        with self._create_lock:
            if self.ctx.repo.by_name(wanted.name) is not None:
                raise errors.Conflict(f"network with name {wanted.name} already exists")
            nets = [
                IPv4Network(r.doc["Subnet"]) for r in self.ctx.repo.all() if r.doc.get("Subnet")
            ]
            host = netlink.host_networks() if wanted.subnet is None else []
            if (
                wanted.ingress
                and wanted.subnet is None
                and not any(INGRESS_SUBNET.overlaps(n) for n in [*nets, *host] if n.prefixlen)
            ):  # dockerd's ingress range when it is free, else one of our pools
                wanted.subnet = INGRESS_SUBNET
            subnet, gateway = spec.choose(wanted, self.ctx.driver.pools, nets, host)
            v6 = wanted.v6.subnet if wanted.v6 is not None else None
            if v6 is not None and any(
                v6.overlaps(IPv6Network(r.doc["Subnet6"]))
                for r in self.ctx.repo.all() if r.doc.get("Subnet6")
            ):  # fmt: skip
                raise errors.Forbidden(spec.OVERLAP)
            nid = secrets.token_hex(32)
            device = wanted.options.get(spec.BRIDGE_NAME) or f"dy-{nid[:12]}"
            doc = wanted.doc(subnet, gateway, device)
            if wanted.driver == spec.OVERLAY:
                doc["Device"], doc["VXLAN"] = overlay.devices(nid)
                doc["VNI"] = overlay.free_vni(self.ctx.repo.all())
                doc["Options"] = {overlay.VNI_OPTION: str(doc["VNI"]), **doc["Options"]}
                device = doc["Device"]
            if netlink.link_exists(device) and device != wanted.options.get(spec.BRIDGE_NAME):
                raise errors.Conflict(f"bridge device {device} already exists")
            row = NetworkRow(nid, wanted.name, wanted.driver, self.ctx.now(), doc)
            # The row first: a daemon killed after it makes the bridge again at its next start
            # (recovery), where a bridge made first would be left with no row naming it.
            with Rollback() as rb:
                try:
                    self.ctx.repo.insert(row)
                except Exception as e:  # noqa: BLE001 - sqlite IntegrityError: another process won
                    if "UNIQUE" in str(e):
                        raise errors.Conflict(
                            f"network with name {wanted.name} already exists"
                        ) from None
                    raise
                rb.push(self.ctx.repo.delete, nid)
                drv = self._driver_for_row(row)
                drv.ensure(None, [])
                rb.push(drv.close)
                crashpoint("network.after-bridge")
                rb.commit()
            self.ctx.user_drivers[nid] = drv
        self.ctx.event(row, "create")
        return {"Id": nid, "Warning": ""}

    def _driver_for_row(self, row: NetworkRow) -> BridgeDriver:
        doc = row.doc
        gw = IPv4Interface(f"{doc['Gateway']}/{IPv4Network(doc['Subnet']).prefixlen}")
        options = {k: v for k, v in (doc.get("Options") or {}).items() if k != overlay.VNI_OPTION}
        kind = overlay.OverlayDriver if row.driver == spec.OVERLAY else BridgeDriver
        drv = kind(doc["Device"], gw, (), firewall=self.ctx.driver.firewall,
                   internal=bool(doc.get("Internal")), options=spec.BridgeOptions.of(options),
                   gw6=spec6.gateway(doc))  # fmt: skip
        if isinstance(drv, overlay.OverlayDriver):
            drv.vxlan, drv.vni = doc["VXLAN"], int(doc["VNI"])
        return drv

    def start_user_networks(self, dnats: Callable[[EndpointRow], list[Any]],
                            peer: Callable[[EndpointRow], Any]) -> None:  # fmt: skip
        """At daemon start: every user network's bridge and tables, as stored."""
        for row in self.ctx.repo.all():
            if row.name in PREDEFINED or row.driver not in ("bridge", spec.OVERLAY):
                continue
            eps = self.ctx.repo.endpoints(row.id)
            drv = self._driver_for_row(row)
            try:
                drv.ensure(IPv4Network(row.doc["Subnet"]), [d for ep in eps for d in dnats(ep)],
                           [peer(ep) for ep in eps])  # fmt: skip
            except errors.DockyardError as e:
                log.warning("network %s: %s", row.name, e)
            self.ctx.user_drivers[row.id] = drv

    def remove(self, ref: str) -> None:
        row = self.ctx.repo.find(ref)
        if row.name in PREDEFINED:
            raise errors.Forbidden(f"{row.name} is a pre-defined network and cannot be removed")
        eps = self.ctx.repo.endpoints(row.id)
        if eps or not self.ctx.repo.delete(row.id):
            raise errors.Conflict(self._busy(row, eps))
        drv = self.ctx.user_drivers.pop(row.id, None) or self._driver_for_row(row)
        try:
            drv.destroy()
        except Exception as e:  # noqa: BLE001 - the row is gone; leftovers are logged
            log.warning("removing bridge of %s: %s", row.name, e)
        self.ctx.event(row, "destroy")

    def prune(self, filters: dict[str, list[str]]) -> Json:
        # moby 20.10's network prune words an unknown key "Invalid filter"
        wanted = prune_selector(filters, time.time(), wording="Invalid filter")
        deleted = []
        for row in self.ctx.repo.all():
            if row.name in PREDEFINED or self.ctx.repo.endpoints(row.id):
                continue
            if not wanted(timefmt.parse_rfc3339(row.created), row.doc.get("Labels")):
                continue
            try:
                self.remove(row.id)
                deleted.append(row.name)
            except errors.DockyardError:
                continue
        self.ctx.publish("network", "prune", "", {"reclaimed": "0"})  # dockerd's, always 0
        return {"NetworksDeleted": deleted}

    def _busy(self, row: NetworkRow, eps: list[EndpointRow]) -> str:
        ep = eps[0] if eps else None
        if ep is None:
            return f"error while removing network: network {row.name} has active endpoints"
        try:
            name = self.ctx.lookup(ep.container_id).name
        except errors.NotFound:
            name = ep.container_id[:12]
        return (
            f"error while removing network: network {row.name} has active endpoints "
            f'(name:"{name}" id:"{ep.endpoint_id[:12]}")'
        )
