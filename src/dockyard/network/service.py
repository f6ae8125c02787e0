"""The network service: NetworkHooks for the container lifecycle (core/hooks.py)
and the `network ls/inspect` queries. Modes (N4): bridge/default and user-defined networks (a
veth per network the container is on, N3/N5), none (own netns, lo only), host, container:NAME.
The collaborators share one NetworkContext (context.py): user networks' lifecycle is
usernets.py's, a container's endpoints endpoints.py's, its set of networks and connect/disconnect
attachments.py's, the daemon's (re)start recovery.py's, `ls`/`inspect` queries.py's.

Setup order at start (each step pushes its undo on one Rollback): validate links, reserve host
ports, make the netns, per network allocate the address (stored with the endpoint row), veth,
DNAT elements on the gateway endpoint, DNS names. Teardown runs the reverse, best effort and
idempotent."""

from __future__ import annotations

import builtins
import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.core.container import ContainerRecord, Published
from dockyard.core.hooks import NetworkPlan
from dockyard.core.types import Filters, Json
from dockyard.network import counters, links, netlink, netns, ports, resolv
from dockyard.network.attachments import Attachments, hosts_names
from dockyard.network.bridge import BridgeDriver
from dockyard.network.context import Lookup, NetworkContext, Publish
from dockyard.network.dns.server import DnsServer
from dockyard.network.endpoints import Endpoints
from dockyard.network.queries import NetworkQueries
from dockyard.network.records import NetworkRepo
from dockyard.network.recovery import Recovery
from dockyard.network.usernets import UserNetworks
from dockyard.network.views import endpoint_settings, network_settings
from dockyard.rollback import Rollback, best_effort

log = logging.getLogger(__name__)

PREDEFINED = ("bridge", "host", "none")
FILE_KEYS = ("HostnamePath", "HostsPath", "ResolvConfPath")
NO_FORWARDING = (
    "Published ports are not forwarded: the daemon runs with --iptables=false and has no "
    "userland proxy; the host ports are only reserved"
)


def mode_of(hc: Json) -> str:
    mode = hc.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


class Networks:
    """The network service's one face: NetworkHooks for the container lifecycle, and the
    `/networks` operations, each handed to the collaborator that holds it."""

    def __init__(
        self,
        repo: NetworkRepo,
        driver: BridgeDriver,
        netns_root: Path,
        lookup: Lookup,
        save: Callable[[ContainerRecord], None],
        lock_for: Callable[[str], AbstractContextManager[Any]],
        now: Callable[[], str],
        publish: Publish | None = None,
    ) -> None:
        self.ctx = ctx = NetworkContext(repo, driver, netns_root, lookup, save, lock_for, now)
        if publish is not None:
            ctx.publish = publish
        self.usernets = UserNetworks(ctx)
        self.endpoints = Endpoints(ctx)
        self.attachments = Attachments(ctx, self.endpoints)
        self.recovery = Recovery(ctx, self.usernets, self.endpoints, self.attachments)
        self.queries = NetworkQueries(ctx)

    # ---- `/networks` and the daemon's start and stop, each held by one collaborator ----------

    def create(self, body: Json) -> Json:
        return self.usernets.create(body)

    def remove(self, ref: str) -> None:
        self.usernets.remove(ref)

    def prune(self, filters: Filters) -> Json:
        return self.usernets.prune(filters)

    def list(self, filters: Filters) -> builtins.list[Json]:
        return self.queries.list(filters)

    def inspect(self, ref: str, brief: bool = False, scope: str = "") -> Json:
        return self.queries.inspect(ref, brief, scope)

    def connect(self, net_ref: str, body: Json) -> None:
        self.attachments.connect(net_ref, body)

    def disconnect(self, net_ref: str, body: Json) -> None:
        self.attachments.disconnect(net_ref, body)

    def start(self) -> None:
        self.recovery.start()

    def reconcile(self, running_ids: Callable[[], set[str]]) -> None:
        self.recovery.reconcile(running_ids)

    def close(self) -> None:
        self.recovery.close()

    @property
    def dns(self) -> DnsServer:
        return self.ctx.dns

    def interface_stats(self, rec: ContainerRecord) -> dict[str, Json]:
        """The container's interfaces' counters for `stats` (network/counters.py); a
        container:NAME joiner shows NAME's, as dockerd follows the shared sandbox."""
        for _ in range(8):  # a chain of joiners, bounded
            mode = mode_of(rec.host_config)
            if not mode.startswith("container:"):
                break
            try:
                rec = self.ctx.lookup(mode.removeprefix("container:"))
            except errors.NotFound:
                return {}
        return counters.interface_stats(self.ctx.repo.endpoints_of(rec.id))

    # ---- NetworkHooks ------------------------------------------------------------------------

    def validate(self, host_config: Json, networking_config: Json | None) -> builtins.list[str]:
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
        if mode.startswith("container:"):
            _container_mode_conflicts(host_config)
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
                self.ctx.lookup(link.name)
            except errors.NotFound as e:
                raise errors.InvalidParameter(
                    f"could not get container for {link.name}: {e.message}"
                ) from None
        return _publish_warnings(host_config, mode, self.ctx.driver.firewall)

    def setup(self, rec: ContainerRecord) -> NetworkPlan:
        plan = self._setup(rec)
        self.ctx.joined(rec, "connect")  # dockerd: one per network joined, before `start`
        return plan

    def _setup(self, rec: ContainerRecord) -> NetworkPlan:
        hc = rec.host_config
        mode = mode_of(hc)
        extra = list(hc.get("ExtraHosts") or [])
        if mode == "host":
            rec.doc["NetworkSettings"] = network_settings(
                {"host": self._ep_doc("host")}, sandbox_key="/var/run/docker/netns/default"
            )
            return NetworkPlan("host", extra_hosts=self._hosts(extra))
        if mode not in PREDEFINED and not mode.startswith("container:"):
            return self._setup_joined(rec, mode, extra)
        if mode.startswith("container:"):
            other = self.ctx.lookup(mode.split(":", 1)[1])
            if other.id == rec.id:
                raise errors.InvalidParameter("cannot join own network")
            if other.state["Status"] not in ("running", "paused"):
                raise errors.Conflict(f"cannot join network of a non running container: {other.id}")
            rec.doc["NetworkSettings"] = network_settings({})
            key = (other.doc.get("NetworkSettings") or {}).get("SandboxKey") or ""
            # Docker: the joiner uses the other's files and takes its host and domain name
            shared = {k: str(other.doc[k]) for k in FILE_KEYS if other.doc.get(k)}
            for k in ("Hostname", "Domainname"):
                rec.config[k] = other.config.get(k) or ""
            files_of = shared if len(shared) == len(FILE_KEYS) else None
            if mode_of(other.host_config) == "host":
                return NetworkPlan("host", files=files_of)
            return NetworkPlan(
                key
                if key.startswith(str(self.ctx.netns_root))
                else f"/proc/{other.state['Pid']}/ns/net",
                files=files_of,
            )
        path = self.ctx.netns_path(rec)
        resolv_text = resolv.build(
            hc.get("Dns") or [], hc.get("DnsSearch") or [], hc.get("DnsOptions") or []
        )
        if mode == "none":
            with Rollback() as rb:
                netns.create(path)
                rb.push(netns.remove, path)
                netlink.loopback_up(path)
                rec.doc["NetworkSettings"] = network_settings(
                    {"none": self._ep_doc("none")}, sandbox_key=str(path)
                )
                rb.commit()
            return NetworkPlan(str(path), extra_hosts=self._hosts(extra), resolv_conf=resolv_text)
        return self._setup_joined(rec, mode, extra)

    def _setup_joined(
        self, rec: ContainerRecord, mode: str, extra: builtins.list[str]
    ) -> NetworkPlan:
        """Bridge or user-defined mode: every wanted network (attachments.attach_all), the
        published ports on the gateway endpoint; with a user network among them, the embedded
        DNS is the resolver, as in libnetwork."""
        hc = rec.host_config
        path = self.ctx.netns_path(rec)
        link_hosts, link_env = self._links(rec) if mode == "bridge" else ([], [])
        with Rollback() as rb:
            published = self._reserve_ports(rec, mode, rb)
            netns.create(path)
            rb.push(netns.remove, path)
            nets, address, has_gateway = self.attachments.attach_all(rec, mode, path, published, rb)
            rec.net.last_ports = {p.key: p.host_port for p in published}
            rec.net.published = published
            shown = ports.ports_doc(published, rec.config.get("ExposedPorts"))
            rec.doc["NetworkSettings"] = network_settings(
                nets, sandbox_key=str(path), ports=shown if has_gateway else {}
            )
            rb.commit()
        embedded = mode not in PREDEFINED or any(n not in PREDEFINED for n in nets)
        make = resolv.embedded if embedded else resolv.build
        # One own line per endpoint, in join order, as libnetwork appends one per join.
        names = hosts_names(rec)
        own = [f"{names}:{n[key]}" for n in nets.values()
               for key in ("IPAddress", "GlobalIPv6Address") if n.get(key)]  # fmt: skip
        return NetworkPlan(
            str(path),
            address=None if own else address,
            extra_hosts=self._hosts(extra) + link_hosts + own,
            resolv_conf=make(
                hc.get("Dns") or [], hc.get("DnsSearch") or [], hc.get("DnsOptions") or []
            ),
            env=link_env,
        )

    def _reserve_ports(
        self, rec: ContainerRecord, mode: str, rb: Rollback
    ) -> builtins.list[Published]:
        hc = rec.host_config
        wanted = ports.requested(
            hc.get("PortBindings"), rec.config.get("ExposedPorts"), bool(hc.get("PublishAllPorts"))
        )
        if wanted and (default_ip := self.endpoints.binding_ip(rec, mode)):
            wanted = [b if b.host_ip else replace(b, host_ip=default_ip) for b in wanted]
        try:
            published = self.ctx.ports.reserve(rec.id, wanted, rec.net.last_ports)
            if self.ctx.driver.gw6 is not None:  # dual-stack daemon: the IPv6 side too
                published += self.ctx.ports.reserve(rec.id, ports.ipv6_side(published), None)
        except errors.DockyardError as e:
            self.ctx.ports.release(rec.id)
            raise errors.System(
                f"driver failed programming external connectivity on endpoint {rec.name} "
                f"({secrets.token_hex(32)}): {e.message}"
            ) from None
        rb.push(self.ctx.ports.release, rec.id)
        return published

    def teardown(self, rec: ContainerRecord) -> None:
        mode = mode_of(rec.host_config)
        if (rec.doc.get("NetworkSettings") or {}).get("SandboxKey"):  # it was set up
            self.ctx.joined(rec, "disconnect")
        if mode != "host" and not mode.startswith("container:"):
            problems = best_effort([(self.attachments.detach_all, (rec,)),
                                    (self.ctx.ports.release, (rec.id,)),
                                    (netns.remove, (self.ctx.netns_path(rec),))])  # fmt: skip
            if problems:
                raise problems[0]
        settings = rec.doc.get("NetworkSettings") or {}
        nets = {
            name: endpoint_settings(nid.get("NetworkID", ""), nid)
            for name, nid in (settings.get("Networks") or {}).items()
        }  # fmt: skip
        rec.doc["NetworkSettings"] = network_settings(nets)

    # ---- helpers -------------------------------------------------------------------------

    def _ep_doc(self, name: str) -> Json:
        row = self.ctx.repo.by_name(name)
        return endpoint_settings(row.id if row else "")

    def _hosts(self, extra: builtins.list[str]) -> builtins.list[str]:
        """--add-host lines, `host-gateway` replaced by the default bridge's gateway."""
        info = self.ctx.driver.info
        out = []
        for entry in extra:
            name, _, ip = entry.partition(":")
            if ip == "host-gateway" and info is not None:
                ip = str(info.gateway)
            out.append(f"{name}:{ip}")
        return out

    def _links(self, rec: ContainerRecord) -> tuple[builtins.list[str], builtins.list[str]]:
        hosts: builtins.list[str] = []
        env: builtins.list[str] = []
        for spec in rec.host_config.get("Links") or []:
            link = links.parse(spec)
            target = self.ctx.lookup(link.name)
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


def _publish_warnings(hc: Json, mode: str, firewall: bool) -> list[str]:
    if not (hc.get("PortBindings") or hc.get("PublishAllPorts")):
        return []
    if mode == "host":
        return ["Published ports are discarded when using host network mode"]
    if not firewall:
        # D-net-7: no rules, and no userland proxy to stand in for them
        return [NO_FORWARDING]
    return []


def _container_mode_conflicts(hc: Json) -> None:
    """What a joiner cannot set: the namespace and the files are the other container's."""
    for key, what in (("Dns", "dns"), ("ExtraHosts", "custom host-to-IP mapping")):
        if hc.get(key):
            raise errors.InvalidParameter(f"conflicting options: {what} and the network mode")
    if hc.get("PortBindings") or hc.get("PublishAllPorts"):
        raise errors.InvalidParameter(
            "conflicting options: port publishing and the container type network mode"
        )
