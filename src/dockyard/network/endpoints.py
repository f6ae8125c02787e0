"""A container's endpoints (N3, N5): one per network it is on (the default bridge or a
user-defined one), eth0, eth1... in its namespace. One of them is the gateway endpoint: it
carries the default route and the published ports. Docker (libnetwork's endpoint order) picks
it among the non-internal networks by name, so connecting `aa` to a container on `bridge`
moves both to `aa`, and disconnecting the gateway network hands them to the next one.

Lifecycle of an endpoint: attach (address stored with the endpoint row in one transaction,
then veth, DNAT elements if gateway, DNS names) -> move_gateway (connect/disconnect elsewhere)
-> detach_live (idempotent, best effort)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.core import linkspec
from dockyard.core.container import ContainerRecord, Published
from dockyard.core.types import Json
from dockyard.network import ipam, netlink, ports, spec, spec6
from dockyard.network.bridge import VETH_PREFIX, BridgeDriver
from dockyard.network.context import NetworkContext
from dockyard.network.dns.names import Entry
from dockyard.network.firewall import nft, ruleset
from dockyard.network.firewall.ruleset import Dnat, Peer
from dockyard.network.records import EndpointRow, NetworkRow
from dockyard.network.usernets import PREDEFINED
from dockyard.network.views import endpoint_settings
from dockyard.rollback import Rollback

log = logging.getLogger(__name__)


def endpoints_config(rec: ContainerRecord) -> Json:
    """The container's wanted networks (create's NetworkingConfig, then connect and
    disconnect), in attach order."""
    cfg = rec.net.wanted
    if "default" in cfg:
        cfg["bridge"] = cfg.pop("default") or {}
    return cfg


def add_short_id(rec: ContainerRecord, cfg: Json) -> None:
    """dockerd 20.10 adds the container's short id to its aliases on a user network, when it
    connects there and when it starts (API < 1.45 shows it in `Aliases`)."""
    aliases = list(cfg.get("Aliases") or [])
    if rec.id[:12] not in aliases:
        cfg["Aliases"] = [*aliases, rec.id[:12]]


def dns_names(rec: ContainerRecord, aliases: Iterable[str]) -> list[str]:
    """An endpoint's DNSNames as dockerd shows them: the container's name, its aliases, its
    short id and its hostname, each once (the first one names the PTR record)."""
    names = [rec.name, *aliases, rec.id[:12], str(rec.config.get("Hostname") or "")]
    return list(dict.fromkeys(n for n in names if n))


def choose_gateway(networks: Iterable[tuple[str, bool]]) -> str | None:
    """(name, internal) pairs -> the gateway network: internal ones never, then the lowest
    name, as libnetwork orders a sandbox's endpoints. None: no way out."""
    outside = sorted(name for name, internal in networks if not internal)
    return outside[0] if outside else None


def dnats(ep: EndpointRow) -> list[Dnat]:
    ip = IPv4Address(ep.ip)
    return [Dnat(ep.container_id, Published(**p), ip) for p in ep.doc.get("ports") or []
            if ":" not in p["host_ip"]]  # fmt: skip  # [::1]: the userland proxy


def peer(ep: EndpointRow) -> Peer:
    return Peer(ep.container_id, ep.veth, ep.mac)


def bindings(ep: EndpointRow) -> list[ports.Binding]:
    return [ports.Binding(p["proto"], p["container_port"], p["host_ip"], p["host_port"], p["host_port"])
            for p in ep.doc.get("ports") or []]  # fmt: skip


def internal(row: NetworkRow) -> bool:
    return bool(row.doc.get("Internal"))


def options(row: NetworkRow) -> spec.BridgeOptions:
    return spec.BridgeOptions.of(row.doc.get("Options") or {})


def next_ifname(rec: ContainerRecord, row: NetworkRow, used: Iterable[str] = ()) -> str:
    """`<prefix><n>` with one counter per prefix (container_iface_prefix, else eth) that only
    counts up while the container runs, as libnetwork's sandbox does: after disconnecting
    eth1 the next network gets eth2. The counters restart with each start. `used` seeds them
    for a container started before they were kept."""
    prefix = options(row).iface_prefix
    counters = rec.net.if_index
    if counters is None:
        counters = {}
        for name in used:
            base = name.rstrip("0123456789")
            if name[len(base) :]:
                counters[base] = max(counters.get(base, 0), int(name[len(base) :]) + 1)
        rec.net.if_index = counters
    n = int(counters.get(prefix, 0))
    counters[prefix] = n + 1
    return f"{prefix}{n}"


class Endpoints:
    def __init__(self, ctx: NetworkContext) -> None:
        self.ctx = ctx

    def wanted_networks(self, rec: ContainerRecord, mode: str) -> list[str]:
        """The networks a bridge- or user-mode container is on, the default bridge first (as
        dockerd attaches it), then its primary network, then the others. The primary one is
        added once: after `network disconnect` it stays out, as in Docker."""
        cfg = endpoints_config(rec)
        if not rec.net.seeded:
            cfg.setdefault(mode, {})
            rec.net.seeded = True
        names = [n for n in cfg if n not in ("host", "none")]
        return sorted(names, key=lambda n: (n != "bridge", n != mode))

    def network_row(self, name: str) -> NetworkRow:
        try:
            return self.ctx.repo.find(name)
        except errors.NotFound:
            raise errors.NotFound(f"network {name} not found") from None

    def attach(self, rec: ContainerRecord, row: NetworkRow, path: Path, ifname: str,
               published: list[Published] | None, rb: Rollback) -> EndpointRow:  # fmt: skip
        """One endpoint; `published` given: the gateway endpoint (default route, DNAT). The
        address (--ip, else the one it had, else the first free) is stored in the same
        transaction as the endpoint row; then the veth; names registered last."""
        if row.doc.get("Scope") == "swarm" and not row.doc.get("Attachable"):
            raise errors.Forbidden(  # dockerd's, from swarmkit's allocator (D-dpy6-2)
                f"Could not attach to network {row.name}: rpc error: code = PermissionDenied "
                f"desc = network {row.name} not manually attachable"
            )
        wanted = endpoints_config(rec)
        cfg = wanted[row.name] = wanted.get(row.name) or {}
        if row.name not in PREDEFINED:
            add_short_id(rec, cfg)
        gateway = published is not None
        with self.ctx.repo.db.tx() as c:
            used = [IPv4Address(ip) for ip in self.ctx.repo.used_ips(c, row.id)]
            ip = self._address(row, cfg, used)
            # the IPv6 addresses in use only where there are any (each endpoint's doc is parsed)
            used6 = self.ctx.repo.used_ip6s(c, row.id) if spec6.gateway(row.doc) is not None else []
            ip6 = self._address6(row, cfg, used6)
            mac = (cfg.get("MacAddress") or (rec.config.get("MacAddress") if gateway else "")
                   or ipam.mac_for(ip))  # fmt: skip
            ep = EndpointRow(
                rec.id, row.id, secrets.token_hex(32), str(ip), mac,
                VETH_PREFIX + secrets.token_hex(4)[:7],
                {"netns": str(path), "ports": [p.__dict__ for p in published or []],
                 "ifname": ifname, "gateway": gateway,
                 "aliases": list(cfg.get("Aliases") or []),
                 **({"ip6": str(ip6)} if ip6 is not None else {})},
            )  # fmt: skip
            self.ctx.repo.insert_endpoint(c, ep)
        rb.push(self.ctx.repo.delete_endpoint, rec.id, row.id)
        if row.name != "bridge":
            cfg["LastIPv4Address"] = str(ip)
        drv = self.ctx.driver_of(row.id)
        try:
            drv.attach(ep.veth, path, ip, mac, rec.id, dnats(ep), ifname=ifname,
                       route=gateway and not internal(row), ip6=ip6)  # fmt: skip
        except netlink.MtuRefused as e:
            raise errors.System(
                f"failed to create endpoint {rec.name} on network {row.name}: {e.message}"
            ) from None
        rb.push(drv.detach, ep.veth, mac, rec.id, dnats(ep))
        if published:
            self.ctx.ports.proxy(rec.id, str(ip))
        if row.name not in PREDEFINED:
            self.register(rec, row, ep)
            rb.push(self.ctx.names.remove, rec.id, row.id)
        return ep

    def binding_ip(self, rec: ContainerRecord, mode: str) -> str:
        """The address `-p PORT:PORT` without one binds: the gateway network's
        host_binding_ipv4 option, else every address ("")."""
        rows = [self.network_row(n) for n in self.wanted_networks(rec, mode)]
        gateway = choose_gateway((r.name, internal(r)) for r in rows)
        row = next((r for r in rows if r.name == gateway), None)
        return options(row).host_ip if row is not None else ""

    def _address(self, row: NetworkRow, cfg: Json, used: list[IPv4Address]) -> IPv4Address:
        if row.name == "bridge":
            info = self.ctx.driver.info
            if info is None:
                raise errors.Unavailable("the default bridge is not set up")
            return ipam.allocate(info.subnet, [info.gateway, *used], "bridge")
        want = (cfg.get("IPAMConfig") or {}).get("IPv4Address") or ""
        if want and not row.doc.get("UserSubnet"):
            raise errors.Forbidden(
                "user specified IP address is supported only when connecting to networks with "
                "user configured subnets"
            )
        last = cfg.get("LastIPv4Address") or ""
        if not want and last:
            try:
                return spec.pick(row.doc, used, last, row.name)
            except errors.DockyardError:
                pass
        return spec.pick(row.doc, used, want, row.name)

    @staticmethod
    def _address6(row: NetworkRow, cfg: Json, used: list[str]) -> IPv6Address | None:
        """On an IPv6 network: --ip6, else the one it had, else the lowest free."""
        want = (cfg.get("IPAMConfig") or {}).get("IPv6Address") or ""
        if spec6.gateway(row.doc) is None:
            if want:
                raise errors.Forbidden(
                    "user specified IP address is supported only when connecting to networks "
                    "with user configured subnets"
                )
            return None
        last = cfg.get("LastIPv6Address") or ""
        if not want and last:
            try:
                return spec6.pick(row.doc, used, last)
            except errors.DockyardError:
                pass
        ip6 = spec6.pick(row.doc, used, want)
        cfg["LastIPv6Address"] = str(ip6)
        return ip6

    def register(self, rec: ContainerRecord, row: NetworkRow, ep: EndpointRow) -> None:
        names = [f"{rec.name}.{row.name}", rec.name, rec.id[:12]]
        names += list(ep.doc.get("aliases") or [])
        if rec.config.get("Hostname"):
            names.append(str(rec.config["Hostname"]))
        uniq = tuple(dict.fromkeys(n.lower() for n in names if n))
        # endpoint links (`--link` on a user network): aliases only this container resolves
        specs = (endpoints_config(rec).get(row.name) or {}).get("Links") or []
        links = tuple((lk.alias.lower(), lk.name.lower()) for lk in map(linkspec.parse, specs))
        ip6 = IPv6Address(ep.doc["ip6"]) if ep.doc.get("ip6") else None
        entry = Entry(rec.id, row.id, IPv4Address(ep.ip), uniq, links, ip6)
        self.ctx.names.add(entry, internal(row))

    def endpoint_doc(self, row: NetworkRow, ep: EndpointRow, rec: ContainerRecord) -> Json:
        cfg = endpoints_config(rec).get(row.name) or {}
        doc = endpoint_settings(row.id, cfg)
        info = self.ctx.driver.info
        if row.name == "bridge" and info is not None:
            gateway, plen = str(info.gateway), info.subnet.prefixlen
        else:
            gateway, plen = row.doc["Gateway"], IPv4Network(row.doc["Subnet"]).prefixlen
        doc.update(EndpointID=ep.endpoint_id, IPAddress=ep.ip, MacAddress=ep.mac,
                   Gateway=gateway, IPPrefixLen=plen)  # fmt: skip
        gw6 = spec6.gateway(row.doc)
        if ep.doc.get("ip6") and gw6 is not None:
            doc.update(GlobalIPv6Address=ep.doc["ip6"], GlobalIPv6PrefixLen=gw6.network.prefixlen,
                       IPv6Gateway=str(gw6.ip))  # fmt: skip
        if row.name != "bridge":
            doc["DNSNames"] = dns_names(rec, cfg.get("Aliases") or [])
        return doc

    # ---- the gateway endpoint ----------------------------------------------------------------

    def move_gateway(self, rec: ContainerRecord, published: list[Published]) -> bool:
        """After connect/disconnect: hand the default route and the DNAT elements to the
        endpoint Docker would pick now. True when something moved."""
        eps = {ep.network_id: ep for ep in self.ctx.repo.endpoints_of(rec.id)}
        rows = {nid: self.ctx.repo.by_id(nid) for nid in eps}
        named = {r.name: nid for nid, r in rows.items() if r is not None}
        want = choose_gateway((r.name, internal(r)) for r in rows.values() if r is not None)
        current = next((ep for ep in eps.values() if ep.doc.get("gateway")), None)
        target = eps[named[want]] if want is not None else None
        if current is target:
            return False
        with Rollback() as rb:
            if current is not None:
                self._gateway_off(current, rb)
            if target is not None:
                self._gateway_on(target, published, rb)
            elif current is not None:  # only internal networks left: no way out
                netlink.default_route(Path(current.doc["netns"]), None)
            rb.commit()
        return True

    def _gateway_off(self, ep: EndpointRow, rb: Rollback) -> None:
        drv = self.ctx.driver_of(ep.network_id)
        self._dnat(drv, ruleset.delete, dnats(ep))
        rb.push(self._dnat, drv, ruleset.add, dnats(ep))
        doc = {**ep.doc, "gateway": False, "ports": []}
        self.ctx.repo.update_endpoint_doc(ep.container_id, ep.network_id, doc)
        rb.push(self.ctx.repo.update_endpoint_doc, ep.container_id, ep.network_id, ep.doc)

    def _gateway_on(self, ep: EndpointRow, published: list[Published],
                    rb: Rollback) -> None:  # fmt: skip
        drv = self.ctx.driver_of(ep.network_id)
        doc = {**ep.doc, "gateway": True, "ports": [p.__dict__ for p in published]}
        moved = EndpointRow(ep.container_id, ep.network_id, ep.endpoint_id, ep.ip, ep.mac,
                            ep.veth, doc)  # fmt: skip
        self._dnat(drv, ruleset.add, dnats(moved))
        rb.push(self._dnat, drv, ruleset.delete, dnats(moved))
        self.ctx.repo.update_endpoint_doc(ep.container_id, ep.network_id, doc)
        rb.push(self.ctx.repo.update_endpoint_doc, ep.container_id, ep.network_id, ep.doc)
        info = drv.info
        if info is not None and not drv.internal:
            netlink.default_route(Path(ep.doc["netns"]), info.gateway, ep.doc.get("ifname", ""))

    @staticmethod
    def _dnat(drv: BridgeDriver, verb: Any, elements: list[Dnat]) -> None:
        if drv.firewall and elements:
            nft.apply(verb(drv.table, elements))

    def detach_live(self, ep: EndpointRow) -> None:
        """The endpoint alone (disconnect, stop): the namespace and other endpoints stay."""
        drv = self.ctx.driver_of(ep.network_id)
        problems = drv.detach(ep.veth, ep.mac, ep.container_id, dnats(ep))
        self.ctx.repo.delete_endpoint(ep.container_id, ep.network_id)
        for p in problems:
            log.warning("teardown of %s: %s", ep.container_id[:12], p)
