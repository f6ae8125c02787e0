"""A container's user-network endpoints beyond eth0 (N5): attached at start from its wanted
networks, and live by `network connect` / `disconnect` on running containers (on stopped
ones only the wanted set changes). The embedded DNS serves a container while it has at least
one user-network endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.network import resolv
from dockyard.network.dns import upstream
from dockyard.network.records import NetworkRow
from dockyard.network.usernets import PREDEFINED, UserNetworks, endpoints_config
from dockyard.rollback import Rollback
from dockyard.state.containers import ContainerRecord

log = logging.getLogger(__name__)

Json = dict[str, Any]


def _mode(rec: ContainerRecord) -> str:
    mode = rec.host_config.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def no_lock(cid: str) -> AbstractContextManager[Any]:
    return nullcontext()


def _running(rec: ContainerRecord) -> bool:
    return rec.state.get("Status") in ("running", "paused", "restarting")


class Attachments(UserNetworks):
    netns_root: Path
    lookup: Callable[[str], ContainerRecord]
    save: Callable[[ContainerRecord], None] | None
    lock_for: Callable[[str], AbstractContextManager[Any]]  # the container's lifecycle lock

    def lookup_name(self, cid: str) -> str:
        return self.lookup(cid).name

    def attach_extra(self, rec: ContainerRecord, path: Path, rb: Rollback, primary: str) -> None:
        """The wanted user networks other than the primary one, eth1... in order."""
        nets = rec.doc["NetworkSettings"]["Networks"]
        index = 1
        for name in list(endpoints_config(rec)):
            if name in (primary, "bridge", "default") or name in PREDEFINED:
                continue
            try:
                row = self._row(name)
            except errors.NotFound:
                raise errors.NotFound(f"network {name} not found") from None
            ep = self.attach_user(rec, row, path, f"eth{index}", False, [], rb)
            nets[row.name] = self.user_endpoint_doc(row, ep, rec)
            index += 1

    def serve_dns(self, rec: ContainerRecord, path: Path) -> None:
        servers = list(rec.host_config.get("Dns") or []) or upstream.host_servers()
        self.dns.serve(rec.id, path, servers)

    def teardown_user(self, rec: ContainerRecord) -> None:
        """Every endpoint on a user network, the DNS sockets and names: best effort."""
        self.dns.stop(rec.id)
        self.names.remove(rec.id)
        bridge = self.repo.by_name("bridge")
        for ep in self.repo.endpoints_of(rec.id):
            if bridge is not None and ep.network_id == bridge.id:
                continue
            cfg = endpoints_config(rec)
            row = self.repo.by_id(ep.network_id)
            if row is not None and row.name in cfg:
                cfg[row.name]["LastIPv4Address"] = ep.ip
            self._detach(ep)  # type: ignore[attr-defined]

    # ---- connect / disconnect -----------------------------------------------------------

    def connect(self, net_ref: str, body: Json) -> None:
        if not isinstance(body, dict):
            raise errors.InvalidParameter("invalid JSON body")
        row = self._row(net_ref)
        cid = self.lookup(str(body.get("Container") or "")).id
        with self.lock_for(cid):  # start/stop must not interleave (nor overwrite the record)
            self._connect(row, self.lookup(cid), body)

    def _connect(self, row: NetworkRow, rec: ContainerRecord, body: Json) -> None:
        settings = body.get("EndpointConfig") or {}
        mode = _mode(rec)
        if mode == "host" or mode.startswith("container:") or row.name in ("host", "none"):
            raise errors.Forbidden(
                "container sharing network namespace with another container or host cannot be "
                "connected to any other network"
            )
        if mode == "none":
            raise errors.Forbidden("container cannot be disconnected from host network or "
                                   "connected to host network")  # fmt: skip
        cfg = endpoints_config(rec)
        if row.name in cfg or (row.name == "bridge" and mode == "bridge"):
            raise errors.Forbidden(
                f"endpoint with name {rec.name} already exists in network {row.name}"
            )
        if row.name == "bridge":
            raise errors.Unsupported("connecting to the default bridge is not supported")
        ipam_cfg = settings.get("IPAMConfig") or {}
        if ipam_cfg.get("IPv4Address") and not row.doc.get("UserSubnet"):
            raise errors.Forbidden(
                "user specified IP address is supported only when connecting to networks with "
                "user configured subnets"
            )
        cfg[row.name] = {k: settings[k] for k in ("IPAMConfig", "Aliases") if settings.get(k)}
        try:
            if _running(rec):
                self._connect_live(rec, row)
        except BaseException:
            cfg.pop(row.name, None)
            raise
        if not _running(rec):
            from dockyard.network.views import endpoint_settings

            doc = endpoint_settings(row.id)
            doc.update(IPAMConfig=cfg[row.name].get("IPAMConfig"),
                       Aliases=cfg[row.name].get("Aliases"))  # fmt: skip
            rec.doc.setdefault("NetworkSettings", {}).setdefault("Networks", {})[row.name] = doc
        self._save(rec)

    def _connect_live(self, rec: ContainerRecord, row: NetworkRow) -> None:
        path = Path((rec.doc.get("NetworkSettings") or {}).get("SandboxKey") or
                    self.netns_root / rec.id[:12])  # fmt: skip
        used = {str(ep.doc.get("ifname") or "eth0") for ep in self.repo.endpoints_of(rec.id)}
        index = next(i for i in range(1, 64) if f"eth{i}" not in used | {"eth0"})
        with Rollback() as rb:
            ep = self.attach_user(rec, row, path, f"eth{index}", False, [], rb)
            if not self.dns.serving(rec.id):
                self.serve_dns(rec, path)
                rb.push(self.dns.stop, rec.id)
                self._point_resolv_at_dns(rec)
            rb.commit()
        nets = rec.doc.setdefault("NetworkSettings", {}).setdefault("Networks", {})
        nets[row.name] = self.user_endpoint_doc(row, ep, rec)

    def _point_resolv_at_dns(self, rec: ContainerRecord) -> None:
        """The first user network of a default-bridge container: its resolv.conf switches to the
        embedded server, as libnetwork's rebuildDNS does. Rewritten in place: it is bind-mounted."""
        target = rec.doc.get("ResolvConfPath") or ""
        hc = rec.host_config
        if not target or not Path(target).is_file():
            return
        text = resolv.embedded(hc.get("Dns") or [], hc.get("DnsSearch") or [],
                               hc.get("DnsOptions") or [])  # fmt: skip
        with open(target, "w") as f:
            f.write(text)

    def disconnect(self, net_ref: str, body: Json) -> None:
        if not isinstance(body, dict):
            raise errors.InvalidParameter("invalid JSON body")
        force = bool(body.get("Force"))
        cid = self.lookup(str(body.get("Container") or "")).id
        try:
            row = self._row(net_ref)
        except errors.NotFound:
            if not force:
                raise
            return
        with self.lock_for(cid):
            self._disconnect(row, self.lookup(cid))

    def _disconnect(self, row: NetworkRow, rec: ContainerRecord) -> None:
        cfg = endpoints_config(rec)
        mode = _mode(rec)
        if row.name in ("host", "none") or mode == "host" or mode.startswith("container:"):
            raise errors.Forbidden(
                "container cannot be disconnected from host network or connected to host network"
            )
        if row.name not in cfg and mode != row.name:
            raise errors.Forbidden(f"container {rec.id} is not connected to network {row.name}")
        ep = self.repo.endpoint(rec.id, row.id)
        if ep is not None:
            self._detach_live(ep)  # type: ignore[attr-defined]
            self.names.remove(rec.id, row.id)
            if not self.names.networks_of(rec.id):
                self.dns.stop(rec.id)
        cfg.pop(row.name, None)
        (rec.doc.get("NetworkSettings") or {}).get("Networks", {}).pop(row.name, None)
        self._save(rec)

    def _save(self, rec: ContainerRecord) -> None:
        if self.save is not None:
            self.save(rec)
