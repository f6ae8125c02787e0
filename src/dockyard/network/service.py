"""The network service: NetworkHooks for the container lifecycle (services/containers/hooks.py)
and the `network ls/inspect` queries. Modes (N4): bridge/default (a veth on the default bridge,
N3), none (own netns, lo only), host, container:NAME.

Setup order at start (each step pushes its undo on one Rollback): validate links, reserve host
ports, make the netns, allocate the address (stored with the endpoint row), veth + DNAT
elements. Teardown runs the reverse, best effort and idempotent."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.network import ipam, links, netlink, netns, ports, resolv
from dockyard.network.attachments import Attachments, no_lock
from dockyard.network.bridge import VETH_PREFIX, BridgeDriver
from dockyard.network.dns.names import NameTable
from dockyard.network.dns.server import DnsServer
from dockyard.network.firewall.ruleset import Dnat, Peer
from dockyard.network.queries import NetworkQueries
from dockyard.network.records import EndpointRow, NetworkRepo
from dockyard.network.views import endpoint_settings, network_settings
from dockyard.rollback import Rollback
from dockyard.services.containers.hooks import NetworkPlan
from dockyard.state.containers import ContainerRecord

log = logging.getLogger(__name__)

Json = dict[str, Any]
Lookup = Callable[[str], ContainerRecord]
PREDEFINED = ("bridge", "host", "none")


def mode_of(hc: Json) -> str:
    mode = hc.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


class Networks(NetworkQueries, Attachments):
    def __init__(
        self,
        repo: NetworkRepo,
        driver: BridgeDriver,
        netns_root: Path,
        lookup: Lookup,
        now: Callable[[], str],
    ) -> None:
        self.repo = repo
        self.driver = driver
        self.netns_root = netns_root
        self.lookup = lookup
        self.now = now
        self.ports = ports.PortReservations()
        self.user_drivers: dict[str, BridgeDriver] = {}
        self.names = NameTable()
        self.dns = DnsServer(self.names)
        self._create_lock = threading.Lock()
        self.save: Callable[[ContainerRecord], None] | None = None  # set by engine.py
        self.lock_for = no_lock  # engine.py: the containers' per-container lock

    # ---- daemon start ----------------------------------------------------------------------

    def start(self) -> None:
        """Predefined rows, the bridge and its table (with the DNAT elements of endpoints that
        may still be live), and their host ports held again."""
        row = self.repo.by_name("bridge")
        stored = IPv4Network(row.doc["Subnet"]) if row and row.doc.get("Subnet") else None
        eps = self.repo.endpoints(row.id) if row else []
        info = self.driver.ensure(
            stored, [d for ep in eps for d in _dnats(ep)], [_peer(ep) for ep in eps]
        )
        self.repo.ensure("bridge", "bridge", self.now(), {
            "Subnet": str(info.subnet), "Gateway": str(info.gateway), "Device": info.device})  # fmt: skip
        self.repo.ensure("host", "host", self.now(), {})
        self.repo.ensure("none", "null", self.now(), {})
        self.start_user_networks(_dnats, _peer)
        for ep in eps:
            try:
                self.ports.reserve(ep.container_id, _bindings(ep), None)
            except errors.DockyardError as e:
                log.warning("could not hold the ports of %s again: %s", ep.container_id[:12], e)

    def reconcile(self, running_ids: Callable[[], set[str]]) -> None:
        """After containers were restored: drop endpoints, veths and netns mounts whose owner
        is not running (a daemon crash leaves them)."""
        running = running_ids()
        for ep in self.repo.endpoints():
            if ep.container_id not in running:
                log.info("removing stale endpoint of %s", ep.container_id[:12])
                self._detach(ep)
        live = {ep.veth for ep in self.repo.endpoints()}
        for drv in [self.driver, *self.user_drivers.values()]:
            for veth in drv.leftover_veths(live):
                log.info("removing stale veth %s", veth)
                drv.forget_veth(veth)
        self._restore_dns(running)
        if self.netns_root.is_dir():
            short = {cid[:12] for cid in running}
            for path in self.netns_root.iterdir():
                if path.name not in short:
                    netns.remove(path)

    def _restore_dns(self, running: set[str]) -> None:
        """Names and DNS sockets of running containers on user networks, after a restart."""
        for cid in running:
            eps = [ep for ep in self.repo.endpoints_of(cid) if ep.network_id in self.user_drivers]
            if not eps:
                continue
            try:
                rec = self.lookup(cid)
                for ep in eps:
                    row = self.repo.by_id(ep.network_id)
                    if row is not None:
                        self.register(rec, row, ep)
                self.serve_dns(rec, Path(eps[0].doc.get("netns") or ""))
            except Exception as e:  # noqa: BLE001 - one container must not stop the daemon
                log.warning("dns for %s: %s", cid[:12], e)

    def close(self) -> None:
        self.dns.close()
        self.driver.close()

    # ---- NetworkHooks ------------------------------------------------------------------------

    def validate(self, host_config: Json, networking_config: Json | None) -> None:
        mode = mode_of(host_config)
        # An unknown network or container is reported at start, as dockerd does: a 404 from
        # create makes the docker CLI try to pull the image.
        if mode == "container:":
            raise errors.InvalidParameter(
                "Invalid network mode: invalid container format container:<name|id>"
            )
        ports.requested(host_config.get("PortBindings"), None, False)
        if host_config.get("Links") and (mode == "host" or mode.startswith("container:")):
            kind = "host type networking" if mode == "host" else "container type network"
            raise errors.InvalidParameter(
                f"conflicting options: {kind} can't be used with links. "
                "This would result in undefined behavior"
            )
        if mode.startswith("container:") and host_config.get("PortBindings"):
            raise errors.InvalidParameter(
                "conflicting options: port publishing and the container type network mode"
            )
        for name, ep in ((networking_config or {}).get("EndpointsConfig") or {}).items():
            ipam_cfg = (ep or {}).get("IPAMConfig") or {}
            if name not in PREDEFINED and mode not in PREDEFINED:
                continue  # checked against the network's subnet at start, as dockerd does
            if ipam_cfg.get("IPv4Address") or ipam_cfg.get("IPv6Address"):
                raise errors.InvalidParameter(
                    "user specified IP address is supported on user defined networks only"
                )
        for spec in host_config.get("Links") or []:
            link = links.parse(spec)
            try:
                self.lookup(link.name)
            except errors.NotFound as e:
                raise errors.InvalidParameter(
                    f"could not get container for {link.name}: {e.message}"
                ) from None

    def setup(self, rec: ContainerRecord) -> NetworkPlan:
        hc = rec.host_config
        mode = mode_of(hc)
        extra = list(hc.get("ExtraHosts") or [])
        if mode == "host":
            rec.doc["NetworkSettings"] = network_settings(
                {"host": self._ep_doc("host")}, sandbox_key="/var/run/docker/netns/default"
            )
            return NetworkPlan("host", extra_hosts=self._hosts(extra))
        if mode not in PREDEFINED and not mode.startswith("container:"):
            return self._setup_user(rec, mode, extra)
        if mode.startswith("container:"):
            other = self.lookup(mode.split(":", 1)[1])
            if other.id == rec.id:
                raise errors.InvalidParameter("cannot join own network")
            if other.state["Status"] not in ("running", "paused"):
                raise errors.Conflict(f"cannot join network of a non running container: {other.id}")
            rec.doc["NetworkSettings"] = network_settings({})
            key = (other.doc.get("NetworkSettings") or {}).get("SandboxKey") or ""
            if mode_of(other.host_config) == "host":
                return NetworkPlan("host")
            return NetworkPlan(
                key
                if key.startswith(str(self.netns_root))
                else f"/proc/{other.state['Pid']}/ns/net"
            )
        path = self.netns_root / rec.id[:12]
        resolv_text = resolv.build(
            hc.get("Dns") or [], hc.get("DnsSearch") or [], hc.get("DnsOptions") or []
        )
        with Rollback() as rb:
            if mode == "none":
                netns.create(path)
                rb.push(netns.remove, path)
                netlink.loopback_up(path)
                rec.doc["NetworkSettings"] = network_settings(
                    {"none": self._ep_doc("none")}, sandbox_key=str(path)
                )
                rb.commit()
                return NetworkPlan(
                    str(path), extra_hosts=self._hosts(extra), resolv_conf=resolv_text
                )
            link_hosts, link_env = self._links(rec)
            plan = self._attach_bridge(rec, path, rb)
            self.attach_extra(rec, path, rb, "bridge")
            if len(rec.doc["NetworkSettings"]["Networks"]) > 1:
                # a user network too: the embedded DNS is its resolver, as in libnetwork
                self.serve_dns(rec, path)
                rb.push(self.dns.stop, rec.id)
                resolv_text = resolv.embedded(
                    hc.get("Dns") or [], hc.get("DnsSearch") or [], hc.get("DnsOptions") or []
                )
            rb.commit()
        return NetworkPlan(
            str(path),
            address=plan,
            extra_hosts=self._hosts(extra) + link_hosts,
            resolv_conf=resolv_text,
            env=link_env,
        )

    def _setup_user(self, rec: ContainerRecord, mode: str, extra: list[str]) -> NetworkPlan:
        """Primary network user-defined: eth0 there (default route unless internal), the other
        wanted networks, published ports, the embedded DNS; resolv.conf points at it."""
        try:
            row = self._row(mode)
        except errors.NotFound:
            raise errors.NotFound(f"network {mode} not found") from None
        hc = rec.host_config
        path = self.netns_root / rec.id[:12]
        with Rollback() as rb:
            published = self._reserve_ports(rec, rb)
            netns.create(path)
            rb.push(netns.remove, path)
            self.endpoints_wanted(rec, row.name)
            ep = self.attach_user(rec, row, path, "eth0", not row.doc.get("Internal"),
                                  [p.__dict__ for p in published], rb)  # fmt: skip
            rec.doc["LastPorts"] = {p.key: p.host_port for p in published}
            rec.doc["NetworkSettings"] = network_settings(
                {row.name: self.user_endpoint_doc(row, ep, rec)}, sandbox_key=str(path),
                ports=ports.ports_doc(published, rec.config.get("ExposedPorts")),
            )  # fmt: skip
            self.attach_extra(rec, path, rb, row.name)
            self.serve_dns(rec, path)
            rb.push(self.dns.stop, rec.id)
            rb.commit()
        return NetworkPlan(
            str(path),
            address=ep.ip,
            extra_hosts=self._hosts(extra),
            resolv_conf=resolv.embedded(
                hc.get("Dns") or [], hc.get("DnsSearch") or [], hc.get("DnsOptions") or []
            ),
        )

    def endpoints_wanted(self, rec: ContainerRecord, primary: str) -> Json:
        from dockyard.network.usernets import endpoints_config

        cfg = endpoints_config(rec)
        if primary not in cfg:
            cfg[primary] = {}
        return cfg

    def _reserve_ports(self, rec: ContainerRecord, rb: Rollback) -> list[ports.Published]:
        hc = rec.host_config
        wanted = ports.requested(
            hc.get("PortBindings"), rec.config.get("ExposedPorts"), bool(hc.get("PublishAllPorts"))
        )
        try:
            published = self.ports.reserve(rec.id, wanted, rec.doc.get("LastPorts"))
        except errors.DockyardError as e:
            raise errors.System(
                f"driver failed programming external connectivity on endpoint {rec.name} "
                f"({secrets.token_hex(32)}): {e.message}"
            ) from None
        rb.push(self.ports.release, rec.id)
        return published

    def _attach_bridge(self, rec: ContainerRecord, path: Path, rb: Rollback) -> str:
        bridge = self._bridge_row()
        info = self.driver.info
        assert info is not None
        published = self._reserve_ports(rec, rb)
        netns.create(path)
        rb.push(netns.remove, path)
        with self.repo.db.tx() as c:
            used = [IPv4Address(ip) for ip in self.repo.used_ips(c, bridge.id)]
            ip = ipam.allocate(info.subnet, [info.gateway, *used], "bridge")
            mac = rec.config.get("MacAddress") or ipam.mac_for(ip)
            ep = EndpointRow(
                rec.id, bridge.id, secrets.token_hex(32), str(ip), mac,
                VETH_PREFIX + secrets.token_hex(4)[:7],
                {"netns": str(path), "ports": [p.__dict__ for p in published]},
            )  # fmt: skip
            self.repo.insert_endpoint(c, ep)
        rb.push(self.repo.delete_endpoint, rec.id, bridge.id)
        self.driver.attach(ep.veth, path, ip, mac, rec.id, _dnats(ep))
        rb.push(self.driver.detach, ep.veth, mac, rec.id, _dnats(ep))
        rec.doc["LastPorts"] = {p.key: p.host_port for p in published}
        rec.doc["NetworkSettings"] = network_settings(
            {"bridge": self._ep_doc("bridge", ep, info.gateway, info.subnet.prefixlen)},
            sandbox_key=str(path),
            ports=ports.ports_doc(published, rec.config.get("ExposedPorts")),
        )
        return str(ip)

    def teardown(self, rec: ContainerRecord) -> None:
        mode = mode_of(rec.host_config)
        self.teardown_user(rec)
        if mode not in PREDEFINED and not mode.startswith("container:"):
            self.ports.release(rec.id)
            netns.remove(self.netns_root / rec.id[:12])
        if mode == "bridge":
            bridge = self.repo.by_name("bridge")
            ep = self.repo.endpoint(rec.id, bridge.id) if bridge else None
            if ep is not None:
                self._detach(ep)
            self.ports.release(rec.id)
        if mode in ("bridge", "none"):
            netns.remove(self.netns_root / rec.id[:12])
        settings = rec.doc.get("NetworkSettings") or {}
        nets = {
            name: {**endpoint_settings(nid.get("NetworkID", "")),
                   "IPAMConfig": nid.get("IPAMConfig"), "Aliases": nid.get("Aliases")}
            for name, nid in (settings.get("Networks") or {}).items()
        }  # fmt: skip
        rec.doc["NetworkSettings"] = network_settings(nets)

    def _detach(self, ep: EndpointRow) -> None:
        self._detach_live(ep)
        self.ports.release(ep.container_id)
        netns.remove(Path(ep.doc.get("netns") or self.netns_root / ep.container_id[:12]))

    def _detach_live(self, ep: EndpointRow) -> None:
        """The endpoint alone (disconnect): the namespace and the other endpoints stay."""
        drv = self.driver_of(ep.network_id)
        problems = drv.detach(ep.veth, ep.mac, ep.container_id, _dnats(ep))
        self.repo.delete_endpoint(ep.container_id, ep.network_id)
        for p in problems:
            log.warning("teardown of %s: %s", ep.container_id[:12], p)

    # ---- helpers -------------------------------------------------------------------------

    def _bridge_row(self) -> Any:
        row = self.repo.by_name("bridge")
        if row is None:
            raise errors.Unavailable("the default bridge is not set up")
        return row

    def _ep_doc(
        self, name: str, ep: EndpointRow | None = None, gw: IPv4Address | None = None, plen: int = 0
    ) -> Json:
        row = self.repo.by_name(name)
        doc = endpoint_settings(row.id if row else "")
        if ep is not None:
            doc.update(
                EndpointID=ep.endpoint_id,
                Gateway=str(gw),
                IPAddress=ep.ip,
                IPPrefixLen=plen,
                MacAddress=ep.mac,
            )
        return doc

    def _hosts(self, extra: list[str]) -> list[str]:
        """--add-host lines, `host-gateway` replaced by the default bridge's gateway."""
        info = self.driver.info
        out = []
        for entry in extra:
            name, _, ip = entry.partition(":")
            if ip == "host-gateway" and info is not None:
                ip = str(info.gateway)
            out.append(f"{name}:{ip}")
        return out

    def _links(self, rec: ContainerRecord) -> tuple[list[str], list[str]]:
        hosts: list[str] = []
        env: list[str] = []
        for spec in rec.host_config.get("Links") or []:
            link = links.parse(spec)
            target = self.lookup(link.name)
            if target.state["Status"] not in ("running", "paused"):
                raise errors.System(
                    f"Cannot link to a non running container: /{target.name} AS /{rec.name}/{link.alias}"
                )
            ip = ((target.doc.get("NetworkSettings") or {}).get("Networks") or {}).get(
                "bridge", {}
            ).get("IPAddress") or ""
            if not ip:
                continue
            hosts.append(
                links.hosts_entry(link, target.config.get("Hostname") or target.id[:12], ip)
            )
            env += links.env(
                link,
                rec.name,
                ip,
                target.config.get("ExposedPorts"),
                target.config.get("Env") or [],
            )
        return hosts, env


def _bindings(ep: EndpointRow) -> list[ports.Binding]:
    return [ports.Binding(p["proto"], p["container_port"], p["host_ip"], p["host_port"], p["host_port"])
            for p in ep.doc.get("ports") or []]  # fmt: skip


def _dnats(ep: EndpointRow) -> list[Dnat]:
    ip = IPv4Address(ep.ip)
    return [Dnat(ep.container_id, ports.Published(**p), ip) for p in ep.doc.get("ports") or []]


def _peer(ep: EndpointRow) -> Peer:
    return Peer(ep.container_id, ep.veth, ep.mac)
