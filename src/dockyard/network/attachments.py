"""A container's networks as a set (N3, N5): all of them attached at start, and changed live
by `network connect` / `disconnect` on running containers (on stopped ones only the wanted
set changes). The default bridge is one of them like any other (connect/disconnect `bridge`),
as in Docker. The embedded DNS serves a container while it has a user-network endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from dockyard import errors
from dockyard.core.container import ContainerRecord, Published
from dockyard.core.types import Json
from dockyard.crashpoints import crashpoint
from dockyard.network import netlink, ports, resolv
from dockyard.network.context import NetworkContext
from dockyard.network.dns import upstream
from dockyard.network.endpoints import (
    Endpoints,
    add_short_id,
    choose_gateway,
    endpoints_config,
    internal,
    next_ifname,
)
from dockyard.network.records import NetworkRow
from dockyard.network.usernets import PREDEFINED
from dockyard.network.views import CONFIGURED, endpoint_settings, network_settings
from dockyard.rollback import Rollback, best_effort

log = logging.getLogger(__name__)


def _mode(rec: ContainerRecord) -> str:
    mode = rec.host_config.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def _running(rec: ContainerRecord) -> bool:
    return rec.state.get("Status") in ("running", "paused", "restarting")


def published_of(rec: ContainerRecord) -> list[Published]:
    return rec.net.published


def hosts_names(rec: ContainerRecord) -> str:
    """The names of the container's own /etc/hosts lines: "fqdn hostname", or the hostname."""
    host = str(rec.config.get("Hostname") or rec.id[:12])
    domain = str(rec.config.get("Domainname") or "")
    return f"{host}.{domain} {host}" if domain else host


def _edit_hosts(rec: ContainerRecord, add: str | None) -> None:
    """libnetwork's updateHostsFile / deleteHostsEntries on a running container: a connect
    appends "IP<TAB>names"; a disconnect (add None) drops every line ending in the names --
    dockerd 20.10 matches by suffix, so all of the container's own lines go (checked against
    it: tests/compat/test_network_options_compat.py). Edited in place: it is bind-mounted."""
    target = rec.doc.get("HostsPath") or ""
    if not target or not Path(target).is_file():
        return
    names = hosts_names(rec)
    with open(target, "r+") as f:
        lines = f.read().splitlines(keepends=True)
        if add is None:
            lines = [ln for ln in lines if not ln.rstrip("\n").endswith("\t" + names)]
        else:
            lines.append(f"{add}\t{names}\n")
        f.seek(0)
        f.write("".join(lines))
        f.truncate()


class Attachments:
    def __init__(self, ctx: NetworkContext, endpoints: Endpoints) -> None:
        self.ctx = ctx
        self.endpoints = endpoints

    def attach_all(self, rec: ContainerRecord, mode: str, path: Path,
                   published: list[Published], rb: Rollback) -> tuple[Json, str | None, bool]:  # fmt: skip
        """Every wanted network, eth0, eth1... -> (NetworkSettings.Networks, the address for
        the container's own hosts line, whether a gateway endpoint carries the ports)."""
        rows = [self.endpoints.network_row(n) for n in self.endpoints.wanted_networks(rec, mode)]
        gateway = choose_gateway((r.name, internal(r)) for r in rows)
        nets: Json = {}
        address: str | None = None
        rec.net.if_index = {}  # a new sandbox: interface numbers start again
        for row in rows:
            is_gw = row.name == gateway
            ifname = next_ifname(rec, row)
            ep = self.endpoints.attach(rec, row, path, ifname, published if is_gw else None, rb)
            nets[row.name] = self.endpoints.endpoint_doc(row, ep, rec)
            if is_gw or address is None:
                address = ep.ip
        if not rows:
            netlink.loopback_up(path)
        if any(r.name not in PREDEFINED for r in rows):
            self.serve_dns(rec, path)
            rb.push(self.ctx.dns.stop, rec.id)
        return nets, address, gateway is not None

    def serve_dns(self, rec: ContainerRecord, path: Path) -> None:
        servers = list(rec.host_config.get("Dns") or []) or upstream.host_servers()
        self.ctx.dns.serve(rec.id, path, servers)

    def detach_all(self, rec: ContainerRecord) -> None:
        """Every endpoint, the DNS sockets and names: best effort. A user network's address is
        remembered, to be taken again at the next start."""
        cfg = endpoints_config(rec)
        steps: list[tuple[Callable[..., object], tuple[object, ...]]] = [
            (self.ctx.dns.stop, (rec.id,)), (self.ctx.names.remove, (rec.id,))]  # fmt: skip
        for ep in self.ctx.repo.endpoints_of(rec.id):
            row = self.ctx.repo.by_id(ep.network_id)
            if row is not None and row.name in cfg and row.name != "bridge":
                cfg[row.name]["LastIPv4Address"] = ep.ip
            steps.append((self.endpoints.detach_live, (ep,)))
        best_effort(steps)

    # ---- connect / disconnect -----------------------------------------------------------

    def connect(self, net_ref: str, body: Json) -> None:
        if not isinstance(body, dict):
            raise errors.InvalidParameter("invalid JSON body")
        row = self.ctx.repo.find(net_ref)
        cid = self.ctx.lookup(str(body.get("Container") or "")).id
        with self.ctx.lock_for(cid):  # start/stop must not interleave (nor overwrite the record)
            self._connect(row, self.ctx.lookup(cid), body)

    def _connect(self, row: NetworkRow, rec: ContainerRecord, body: Json) -> None:
        settings = body.get("EndpointConfig") or {}
        mode = _mode(rec)
        if mode == "host" or mode.startswith("container:") or row.name in ("host", "none"):
            raise errors.Forbidden(
                "container sharing network namespace with another container or host cannot be "
                "connected to any other network"
            )
        if mode == "none":
            raise errors.InvalidParameter(
                "container cannot be connected to multiple networks with one of the networks "
                "in private (none) mode"
            )
        ipam_cfg = settings.get("IPAMConfig") or {}
        if row.name == "bridge":
            if ipam_cfg.get("IPv4Address") or ipam_cfg.get("IPv6Address"):
                raise errors.InvalidParameter(
                    "user specified IP address is supported on user defined networks only"
                )
            if settings.get("Aliases"):
                raise errors.InvalidParameter(
                    "network-scoped alias is supported only for containers in user defined networks"
                )
        elif ipam_cfg.get("IPv4Address") and not row.doc.get("UserSubnet"):
            raise errors.Forbidden(
                "user specified IP address is supported only when connecting to networks with "
                "user configured subnets"
            )
        if row.name in self.endpoints.wanted_networks(rec, mode):  # after the settings, as dockerd
            raise errors.Forbidden(
                f"endpoint with name {rec.name} already exists in network {row.name}"
            )
        cfg = endpoints_config(rec)
        cfg[row.name] = {k: settings[k] for k in CONFIGURED if settings.get(k)}
        if row.name not in PREDEFINED:
            add_short_id(rec, cfg[row.name])
        try:
            if _running(rec):
                self._connect_live(rec, row)
                crashpoint("network.after-endpoint")
                self.ctx.event(row, "connect", rec.id)  # a stopped container's comes at start
        except BaseException:
            cfg.pop(row.name, None)
            raise
        if not _running(rec):
            doc = endpoint_settings("", cfg[row.name])  # dockerd: no NetworkID before start
            rec.doc.setdefault("NetworkSettings", {}).setdefault("Networks", {})[row.name] = doc
        self.ctx.save(rec)

    def _connect_live(self, rec: ContainerRecord, row: NetworkRow) -> None:
        path = Path((rec.doc.get("NetworkSettings") or {}).get("SandboxKey") or
                    self.ctx.netns_path(rec))  # fmt: skip
        used = [str(ep.doc.get("ifname") or "eth0") for ep in self.ctx.repo.endpoints_of(rec.id)]
        with Rollback() as rb:
            ep = self.endpoints.attach(rec, row, path, next_ifname(rec, row, used), None, rb)
            if row.name not in PREDEFINED and not self.ctx.dns.serving(rec.id):
                self.serve_dns(rec, path)
                rb.push(self.ctx.dns.stop, rec.id)
                self._point_resolv_at_dns(rec)
            self.endpoints.move_gateway(rec, published_of(rec))
            rb.commit()
        _edit_hosts(rec, ep.ip)
        if ep.doc.get("ip6"):
            _edit_hosts(rec, str(ep.doc["ip6"]))
        ep = self.ctx.repo.endpoint(rec.id, row.id) or ep  # the gateway move rewrote its doc
        nets = rec.doc.setdefault("NetworkSettings", {}).setdefault("Networks", {})
        nets[row.name] = self.endpoints.endpoint_doc(row, ep, rec)
        self._refresh_settings(rec)

    def _refresh_settings(self, rec: ContainerRecord) -> None:
        """Top-level fields follow the bridge endpoint; Ports appear once a gateway endpoint
        carries them (dockerd leaves them shown after it goes)."""
        old = rec.doc.get("NetworkSettings") or {}
        shown = old.get("Ports") or {}
        if any(ep.doc.get("gateway") for ep in self.ctx.repo.endpoints_of(rec.id)):
            shown = ports.ports_doc(published_of(rec), rec.config.get("ExposedPorts"))
        rec.doc["NetworkSettings"] = {
            **network_settings(old.get("Networks") or {}, sandbox_key=old.get("SandboxKey") or "",
                               ports=shown),
            "SandboxID": old.get("SandboxID") or "",
        }  # fmt: skip

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
        cid = self.ctx.lookup(str(body.get("Container") or "")).id
        try:
            row = self.ctx.repo.find(net_ref)
        except errors.NotFound:
            if not force:
                raise
            return
        with self.ctx.lock_for(cid):
            self._disconnect(row, self.ctx.lookup(cid))

    def _disconnect(self, row: NetworkRow, rec: ContainerRecord) -> None:
        mode = _mode(rec)
        if row.name in ("host", "none") or mode == "host" or mode.startswith("container:"):
            raise errors.Forbidden(
                "container cannot be disconnected from host network or connected to host network"
            )
        if row.name not in self.endpoints.wanted_networks(rec, mode):
            raise errors.Forbidden(f"container {rec.id} is not connected to network {row.name}")
        ep = self.ctx.repo.endpoint(rec.id, row.id)
        if ep is not None:
            self.endpoints.detach_live(ep)
            # the DNS sockets stay until stop: resolv.conf keeps naming 127.0.0.11, as in Docker
            self.ctx.names.remove(rec.id, row.id)
            if ep.doc.get("gateway"):
                self.endpoints.move_gateway(rec, published_of(rec))
            if _running(rec):
                _edit_hosts(rec, None)
        endpoints_config(rec).pop(row.name, None)
        (rec.doc.get("NetworkSettings") or {}).get("Networks", {}).pop(row.name, None)
        if _running(rec):
            self._refresh_settings(rec)
        self.ctx.save(rec)
        self.ctx.event(row, "disconnect", rec.id)  # running or not, as dockerd
