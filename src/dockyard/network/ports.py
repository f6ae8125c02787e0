"""Port publishing, the daemon side (N1): parse `HostConfig.PortBindings` / `-P`, and reserve
host ports by binding them ourselves (as dockerd's port allocator does) for as long as the
container runs, so another process or container asking for the port fails. The data path is
kernel DNAT (firewall/); these sockets never see a packet."""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.core.container import Published

PROTOS = ("tcp", "udp")
LOOPBACK6 = "::1"  # published through the userland proxy (userproxy.py, D-dpy6-4)
ANY6 = "::"  # a dual-stack daemon's IPv6 side of a wildcard publication: the proxy too
PROXIED = (LOOPBACK6, ANY6)


def ipv6_side(published: Iterable[Published]) -> list[Binding]:
    """On a dual-stack daemon, every TCP publication on all IPv4 addresses is also one on all
    IPv6 addresses, on the same host port, as dockerd's `0.0.0.0:P` and `:::P` (D-dpy6-4)."""
    return [Binding(p.proto, p.container_port, ANY6, p.host_port, p.host_port)
            for p in published if p.host_ip == "0.0.0.0" and p.proto == "tcp"]  # fmt: skip


@dataclass(frozen=True)
class Binding:
    """One requested publication; host_start == 0 asks for an ephemeral port."""

    proto: str
    container_port: int
    host_ip: str  # "" means every address (0.0.0.0)
    host_start: int = 0
    host_end: int = 0


def _port(text: str) -> int:
    n = int(text)
    if not 0 < n <= 65535:
        raise ValueError(text)
    return n


def _split(spec: str) -> tuple[int, str]:
    port, _, proto = spec.partition("/")
    return _port(port), (proto or "tcp").lower()


def _host_range(text: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    start, _, end = text.partition("-")
    lo = int(start)
    hi = int(end) if end else lo
    if not (0 <= lo <= 65535 and 0 <= hi <= 65535) or hi < lo:
        raise ValueError(text)
    return lo, hi


def requested(
    port_bindings: dict[str, Any] | None, exposed: dict[str, Any] | None, publish_all: bool
) -> list[Binding]:
    """Every publication the container asks for, validated with dockerd's wording (400)."""
    out: list[Binding] = []
    bound: set[str] = set()
    for spec, entries in (port_bindings or {}).items():
        try:
            cport, proto = _split(spec)
        except ValueError:
            raise errors.InvalidParameter(
                f'invalid port specification: "{spec.partition("/")[0]}"'
            ) from None
        if proto not in PROTOS:
            raise errors.InvalidParameter(f"unsupported protocol {proto!r}: only tcp and udp")
        bound.add(f"{cport}/{proto}")
        for entry in entries or [{}]:
            host_ip = (entry or {}).get("HostIp") or ""
            host_port = (entry or {}).get("HostPort") or ""
            try:
                lo, hi = _host_range(host_port)
            except ValueError:
                raise errors.InvalidParameter(
                    f'invalid port specification: "{host_port}"'
                ) from None
            if host_ip and ":" in host_ip and not (host_ip == LOOPBACK6 and proto == "tcp"):
                continue  # other IPv6 publications: not forwarded (D-dpynet-2)
            out.append(Binding(proto, cport, host_ip, lo, hi))
    if publish_all:
        for spec in exposed or {}:
            try:
                cport, proto = _split(spec)
            except ValueError:
                continue
            if f"{cport}/{proto}" not in bound and proto in PROTOS:
                out.append(Binding(proto, cport, ""))
    return out


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> range:
    try:
        lo, hi = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    return range(lo, hi + 1)


def ports_doc(published: Iterable[Published], exposed: dict[str, Any] | None) -> dict[str, Any]:
    """`NetworkSettings.Ports`: every exposed port, null when not published."""
    doc: dict[str, Any] = {}
    for spec in exposed or {}:
        port, _, proto = spec.partition("/")
        doc[f"{port}/{proto or 'tcp'}"] = None
    for p in published:
        doc.setdefault(p.key, None)
        doc[p.key] = [*(doc[p.key] or []), {"HostIp": p.host_ip, "HostPort": str(p.host_port)}]
    return doc


class PortReservations:
    """Host ports held by this daemon, by owner (container id). Thread-safe."""

    def __init__(self, ephemeral: range | None = None) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str, int], tuple[str, socket.socket]] = {}
        self._ephemeral = ephemeral or ephemeral_range()
        self._cursor = 0
        self._ports: dict[tuple[str, str, int], int] = {}  # key -> container port
        self._proxies: dict[tuple[str, str, int], Any] = {}  # key -> userproxy.Proxy
        self.proxy_binary: Callable[[], Path] | None = None  # set by network/setup.py
        # a recycled predecessor's bound sockets, taken again by the restore (recycle.py)
        self._inherited: dict[tuple[str, str, int], socket.socket] = {}

    def hand_over(self, keep: Callable[[str, int], None]) -> None:
        """A recycle: the bound ports stay bound across exec, no other process takes them."""
        with self._lock:
            for (proto, ip, port), (_, sock) in self._held.items():
                keep(f"{proto}/{ip}/{port}", sock.fileno())

    def adopt(self, fds: dict[str, int]) -> None:
        with self._lock:
            for name, fd in fds.items():
                proto, ip, port = name.split("/")
                self._inherited[(proto, ip, int(port))] = socket.socket(fileno=fd)

    def close_inherited(self) -> None:
        """After start-up: the ports of containers that no longer run."""
        with self._lock:
            for sock in self._inherited.values():
                sock.close()
            self._inherited.clear()

    def proxy(self, owner: str, target_ip: str) -> None:
        """Start the userland proxy of each of the owner's [::1] TCP ports towards the
        container's address (its gateway endpoint's); the kernel cannot DNAT ::1."""
        from dockyard.network import userproxy

        with self._lock:
            for key, (who, sock) in self._held.items():
                if who != owner or key[1] not in PROXIED or key in self._proxies:
                    continue
                assert self.proxy_binary is not None
                self._proxies[key] = userproxy.Proxy.start(
                    self.proxy_binary(), sock, target_ip, self._ports[key]
                )

    def proxied(self) -> int:
        """Userland proxies running: their connections would not survive a recycle."""
        with self._lock:
            return len(self._proxies)

    def reserve(
        self, owner: str, wanted: list[Binding], prefer: dict[str, int] | None = None
    ) -> list[Published]:
        """Bind every requested port or none: on a failure the ones bound so far are released.
        `prefer` maps "port/proto" to the host port this owner had before (restart keeps
        ephemeral ports when they are still free)."""
        done: list[tuple[str, str, int]] = []
        out: list[Published] = []
        with self._lock:
            try:
                for b in wanted:
                    ip = b.host_ip or "0.0.0.0"
                    port = self._take(
                        owner, b, ip, (prefer or {}).get(f"{b.container_port}/{b.proto}")
                    )
                    done.append((b.proto, ip, port))
                    self._ports[(b.proto, ip, port)] = b.container_port
                    out.append(Published(b.proto, b.container_port, ip, port))
            except BaseException:
                for key in done:
                    self._drop(key)
                raise
        return out

    def release(self, owner: str) -> None:
        with self._lock:
            for key, (who, _) in list(self._held.items()):
                if who == owner:
                    self._drop(key)

    def owners(self) -> set[str]:
        with self._lock:
            return {who for who, _ in self._held.values()}

    def _drop(self, key: tuple[str, str, int]) -> None:
        proxy = self._proxies.pop(key, None)
        if proxy is not None:
            proxy.stop()
        self._ports.pop(key, None)
        entry = self._held.pop(key, None)
        if entry:
            entry[1].close()

    def _conflict(self, proto: str, ip: str, port: int) -> bool:
        v6 = ":" in ip
        for p, held_ip, held_port in self._held:
            if p != proto or held_port != port or (":" in held_ip) != v6:
                continue
            if held_ip == ip or ("::" if v6 else "0.0.0.0") in (ip, held_ip):
                return True
        return False

    def _take(self, owner: str, b: Binding, ip: str, prefer: int | None) -> int:
        if b.host_start:
            last: errors.DockyardError | None = None
            for port in range(b.host_start, b.host_end + 1):
                try:
                    self._bind(owner, b.proto, ip, port)
                    return port
                except errors.DockyardError as e:
                    last = e
            assert last is not None
            raise last
        if prefer:
            try:
                self._bind(owner, b.proto, ip, prefer)
                return prefer
            except errors.DockyardError:
                pass
        span = len(self._ephemeral)
        for i in range(span):
            port = self._ephemeral[(self._cursor + i) % span]
            try:
                self._bind(owner, b.proto, ip, port)
            except errors.DockyardError:
                continue
            self._cursor = (self._cursor + i + 1) % span
            return port
        raise errors.System("no free port in the ephemeral range")

    def _bind(self, owner: str, proto: str, ip: str, port: int) -> None:
        if self._conflict(proto, ip, port):
            raise errors.System(f"Bind for {ip}:{port} failed: port is already allocated")
        held = self._inherited.pop((proto, ip, port), None)
        if held is not None:  # bound by the predecessor for this very container
            self._held[(proto, ip, port)] = (owner, held)
            return
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        v6 = ":" in ip
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, kind)
        where = f"{proto}6 [{ip}]:{port}" if v6 else f"{proto}4 {ip}:{port}"
        try:
            if v6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if ip in PROXIED:  # a listener (as Go's): its old connections' TIME_WAIT must
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not block a restart
            # No SO_REUSEADDR and no listen(): a bound, non-listening socket without it makes
            # every later bind of the port fail, whatever options the other process uses.
            # [::1] listens: its proxy accepts on this very socket.
            s.bind((ip, port))
            if ip in PROXIED:
                s.listen(128)
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRINUSE:
                raise errors.System(
                    f"Error starting userland proxy: listen {where}: bind: address already in use"
                ) from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise errors.System(
                    f"Error starting userland proxy: listen {where}: bind: "
                    "cannot assign requested address"
                ) from None
            raise errors.System(f"Error starting userland proxy: {e}") from None
        self._held[(proto, ip, port)] = (owner, s)
