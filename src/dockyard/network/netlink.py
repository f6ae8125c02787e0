"""Netlink, through pyroute2: the only module that imports it. Bridges, veth pairs, addresses,
routes, and sysctls (plain writes under /proc/sys)."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from dockyard import errors
from dockyard.network import netns
from dockyard.network.graph import LinkFact

log = logging.getLogger(__name__)
# pyroute2 logs every netlink message at DEBUG: far too much for the daemon's debug log.
logging.getLogger("pyroute2").setLevel(logging.WARNING)

_ENODEV = 19
_ESRCH = 3
_EINVAL = 22
_EEXIST = 17
# What the kernel accepts for a veth or bridge (ETH_MIN_MTU, ETH_MAX_MTU).
MTU_RANGE = range(68, 65536)


class MtuRefused(errors.System):
    """The kernel refused a network's MTU for a new veth (dockerd's wording; the endpoint
    layer adds which container and network)."""


def sysctl(key: str, value: str) -> None:
    """Write /proc/sys/<key with dots as slashes> only when it differs (writes are not free)."""
    path = Path("/proc/sys") / key.replace(".", "/")
    if path.read_text().strip() != value:
        path.write_text(value)


def host_networks() -> list[IPv4Network]:
    """Every IPv4 prefix the host routes or owns: what a new bridge subnet must not overlap."""
    out: list[IPv4Network] = []
    with IPRoute() as ip:
        for r in ip.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            if dst:
                out.append(IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
        for a in ip.get_addr(family=2):
            out.append(IPv4Network(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}", strict=False))
    return out


def default_address() -> str:
    """The first IPv4 address of the default route's interface (swarm's advertised address
    when none is given), else 127.0.0.1."""
    with IPRoute() as ip:
        for r in ip.get_default_routes(family=2):
            oif = r.get_attr("RTA_OIF")
            for a in ip.get_addr(family=2, index=oif) if oif else []:
                return str(a.get_attr("IFA_ADDRESS"))
    return "127.0.0.1"


def _index(name: str) -> int | None:
    """The link's index in this thread's network namespace (that of the IPRoute it opened):
    one ioctl, where pyroute2's link_lookup costs half a millisecond."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def link_exists(name: str) -> bool:
    """One ioctl in this thread's network namespace (a netlink dump decodes every link on the
    host, ~1 ms each in pyroute2: a second at 1,000 containers)."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def link_ipv4(name: str) -> IPv4Interface | None:
    """The first IPv4 address on a link, or None (no link, or no address)."""
    with IPRoute() as ip:
        idx = _index(name)
        if idx is None:
            return None
        for a in ip.get_addr(family=2, index=idx):
            return IPv4Interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    return None


def link_alias(name: str) -> str:
    with IPRoute() as ip:
        idx = _index(name)
        if idx is None:
            return ""
        return str(ip.get_links(idx)[0].get_attr("IFLA_IFALIAS") or "")


def create_bridge(name: str, gateway: IPv4Interface, alias: str, mtu: int | None = None) -> None:
    """A new bridge with the gateway address, up; the alias marks it as ours for reconcile.
    An MTU the kernel would refuse is left out: dockerd accepts it at network create and only
    the container's veth fails."""
    t0 = time.monotonic()
    extra = {"mtu": mtu} if mtu is not None and mtu in MTU_RANGE else {}
    with IPRoute() as ip:
        ip.link("add", ifname=name, kind="bridge", **extra)
        idx = _index(name)
        assert idx is not None
        ip.link("set", index=idx, ifalias=alias)
        ip.addr("add", index=idx, address=str(gateway.ip), prefixlen=gateway.network.prefixlen)
        ip.link("set", index=idx, state="up")
    log.debug("netlink: bridge %s %s (%.1f ms)", name, gateway, (time.monotonic() - t0) * 1e3)


def create_vxlan(name: str, vni: int, master: str, port: int) -> None:
    """A VXLAN device on a bridge, local only: no remote, no underlying device, learning off
    (no peer is ever learnt, nothing is sent off the host). Replaced when it exists."""
    with IPRoute() as ip:
        if _index(name) is not None:
            ip.link("del", ifname=name)
        ip.link("add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_port=port,
                vxlan_learning=0, vxlan_local="127.0.0.1")  # fmt: skip
        idx = _index(name)
        bridge = _index(master)
        assert idx is not None and bridge is not None
        ip.link("set", index=idx, master=bridge, state="up")
    log.debug("netlink: vxlan %s id %d on %s", name, vni, master)


def vxlan_ids() -> set[int]:
    """The VNIs of every VXLAN device on the host (whoever made it)."""
    out: set[int] = set()
    with IPRoute() as ip:
        for link in ip.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            if info is None or info.get_attr("IFLA_INFO_KIND") != "vxlan":
                continue
            data = info.get_attr("IFLA_INFO_DATA")
            if data is not None and data.get_attr("IFLA_VXLAN_ID") is not None:
                out.add(int(data.get_attr("IFLA_VXLAN_ID")))
    return out


def delete_link(name: str) -> None:
    """Idempotent."""
    with IPRoute() as ip:
        try:
            ip.link("del", ifname=name)
        except NetlinkError as e:
            if e.code not in (_ENODEV, _ESRCH):
                raise
    log.debug("netlink: deleted %s", name)


def links_with_prefix(prefix: str) -> list[str]:
    """Names only, from libc's if_nameindex (see link_exists)."""
    return [name for _, name in socket.if_nameindex() if name.startswith(prefix)]


@dataclass(frozen=True)
class Address6:
    """An endpoint's IPv6 address and, on the gateway endpoint, its default route's next hop."""

    address: IPv6Interface
    gateway: IPv6Address | None = None


_IFA_F_NODAD = 0x02  # usable at once, as Docker's addresses: no duplicate address detection


def add_address6(name: str, address: IPv6Interface) -> None:
    """An IPv6 address on a host link (a bridge's gateway); already there is fine."""
    with IPRoute() as ip:
        idx = _index(name)
        if idx is None:
            raise OSError(_ENODEV, f"{name} not found")
        try:
            ip.addr("add", index=idx, address=str(address.ip), prefixlen=address.network.prefixlen,
                    flags=_IFA_F_NODAD)  # fmt: skip
        except NetlinkError as e:
            if e.code != _EEXIST:
                raise


def add_veth(
    host_name: str,
    bridge: str,
    netns_path: Path,
    address: IPv4Interface,
    gateway: IPv4Address | None,
    mac: str,
    mtu: int | None = None,
    ifname: str = "eth0",
    address6: Address6 | None = None,
) -> None:
    """A veth pair: `host_name` enslaved to the bridge, the peer moved into the namespace as
    `ifname` (eth0, eth1... for further networks) with the address, MAC and, when a gateway is
    given, the default route via it; lo up too. `mtu` None: the kernel's default (1500); one
    the kernel refuses raises MtuRefused and leaves no link."""
    t0 = time.monotonic()
    sized = {} if mtu is None else {"mtu": mtu}
    with IPRoute() as ip:
        br_idx = _index(bridge)
        if br_idx is None:
            raise OSError(_ENODEV, f"bridge {bridge} not found")
        # The peer is born inside the namespace with its final name and MAC: no move, no
        # rename (each would cost a round trip and a link flap).
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ip.link("add", ifname=host_name, kind="veth", master=br_idx, **sized,
                    peer={"ifname": ifname, "address": mac, "net_ns_fd": fd, **sized})  # fmt: skip
        except NetlinkError as e:
            if e.code == _EINVAL and mtu is not None and mtu not in MTU_RANGE:
                raise MtuRefused(
                    f"failed to set MTU on host interface {host_name}: invalid argument"
                ) from None
            raise
        finally:
            os.close(fd)
        try:
            host_idx = _index(host_name)
            assert host_idx is not None
            # DNAT happens while the frame is bridged (br_netfilter): a container reaching its
            # own published port through the gateway needs the frame sent back out its port.
            ip.brport("set", index=host_idx, mode=1)  # IFLA_BRPORT_MODE: hairpin
            ip.link("set", index=host_idx, state="up")
        except BaseException:
            delete_link(host_name)
            raise

    def inside() -> None:
        with IPRoute() as ns:
            idx = _index(ifname)
            assert idx is not None
            ns.link("set", index=1, state="up")  # lo is always index 1 in a fresh namespace
            ns.addr("add", index=idx, address=str(address.ip), prefixlen=address.network.prefixlen)
            if address6 is not None:
                a6 = address6.address
                ns.addr("add", index=idx, address=str(a6.ip), prefixlen=a6.network.prefixlen,
                        flags=_IFA_F_NODAD)  # fmt: skip
            ns.link("set", index=idx, state="up")
            if gateway is not None:
                ns.route("add", dst="0.0.0.0/0", gateway=str(gateway), oif=idx)
            if address6 is not None and address6.gateway is not None:
                ns.route("add", dst="::/0", gateway=str(address6.gateway), oif=idx, family=10)

    try:
        netns.run_inside(netns_path, inside)
    except BaseException:
        delete_link(host_name)
        raise
    log.debug("netlink: veth %s -> %s %s (%.1f ms)", host_name, netns_path, address,
              (time.monotonic() - t0) * 1e3)  # fmt: skip


def default_route(netns_path: Path, gateway: IPv4Address | None, ifname: str = "") -> None:
    """Point the namespace's IPv4 default route at `gateway` through `ifname`, or remove it
    (gateway None): the route follows the endpoint Docker picks as the gateway one."""

    def inside() -> None:
        with IPRoute() as ns:
            if gateway is None:
                try:
                    ns.route("del", dst="0.0.0.0/0")
                except NetlinkError as e:
                    if e.code != _ESRCH:
                        raise
                return
            idx = _index(ifname)
            if idx is None:
                raise OSError(_ENODEV, f"{ifname} not found")
            ns.route("replace", dst="0.0.0.0/0", gateway=str(gateway), oif=idx)

    netns.run_inside(netns_path, inside)


_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up(netns_path: Path) -> None:
    """`lo` up in a new namespace: two ioctls on a datagram socket opened inside it, which costs
    microseconds where a netlink session costs milliseconds on every container start."""

    def inside() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            req = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, req))[1]
            if not flags & _IFF_UP:
                fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))

    netns.run_inside(netns_path, inside)


def master_of(name: str) -> str:
    """The name of the bridge a link is enslaved to, or "" (also when the link, or its bridge,
    goes away meanwhile: another daemon on the host may delete its veths at any time)."""
    with IPRoute() as ip:
        try:
            idx = _index(name)
            if idx is None:
                return ""
            master = ip.get_links(idx)[0].get_attr("IFLA_MASTER")
            if not master:
                return ""
            return str(ip.get_links(master)[0].get_attr("IFLA_IFNAME"))
        except NetlinkError as e:
            if e.code == _ENODEV:
                return ""
            raise


SYS_CLASS_NET = Path("/sys/class/net")


def link_facts(names: Iterable[str], root: Path = SYS_CLASS_NET) -> list[LinkFact]:
    """The network graph's kernel facts for these host links, from sysfs (the kernel's own
    attributes of the netns this process mounted it in): ifindex, a veth's peer index (iflink),
    the bridge it is enslaved to and whether it is up (a bridge's iflink is its own index).
    A link that is gone is left out.
    pyroute2 decodes ~1 ms per link of a full dump; these are 4 small reads per link asked."""
    out = []
    base = str(root)
    for name in dict.fromkeys(names):
        if not name or "/" in name or name in (".", ".."):
            continue
        d = f"{base}/{name}/"
        try:
            index = int(_read_small(d + "ifindex"))
            iflink = int(_read_small(d + "iflink"))
            up = _read_small(d + "operstate").strip() == b"up"
        except (OSError, ValueError):
            continue
        try:
            master = os.path.basename(os.readlink(d + "master"))
        except OSError:
            master = ""
        out.append(LinkFact(name, index, iflink, master, up))
    return out


def _read_small(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 64)
    finally:
        os.close(fd)
