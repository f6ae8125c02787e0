"""The name table behind the embedded DNS, pure and thread-safe: one entry per endpoint on a
user-defined network (its address and names: container name, aliases, short id, hostname).
A question is answered only from the networks the asking container is on."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class Entry:
    container_id: str
    network_id: str
    ip: IPv4Address
    names: tuple[str, ...]  # lower case, no trailing dot; the first is the PTR answer
    # (alias, target name) of the endpoint's links: names only its own container resolves
    links: tuple[tuple[str, str], ...] = ()
    ip6: IPv6Address | None = None  # on an IPv6 network: AAAA answers


def normalize(name: str) -> str:
    return name.rstrip(".").lower()


class NameTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], Entry] = {}
        self._internal: set[str] = set()  # network ids that never forward
        # per asker: (version, name -> addresses); rebuilt after any change. Reads take no
        # lock: the hot path of every query.
        self._version = 0
        self._views: dict[str, tuple[int, dict[str, list[Address]]]] = {}

    def add(self, entry: Entry, internal: bool = False) -> None:
        with self._lock:
            self._entries[(entry.container_id, entry.network_id)] = entry
            self._version += 1
            if internal:
                self._internal.add(entry.network_id)

    def remove(self, container_id: str, network_id: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == container_id]:
                if network_id is None or key[1] == network_id:
                    del self._entries[key]
            self._version += 1
            self._views.pop(container_id, None)

    def networks_of(self, container_id: str) -> set[str]:
        with self._lock:
            return {k[1] for k in self._entries if k[0] == container_id}

    def may_forward(self, asker: str) -> bool:
        """Internal networks never forward; a container on some non-internal one does."""
        nets = self.networks_of(asker)
        return not nets or bool(nets - self._internal)

    @property
    def version(self) -> int:
        """Bumped by every change: answers cached against an older version are stale."""
        return self._version

    def _view(self, asker: str) -> dict[str, list[Address]]:
        """name -> addresses on the asker's networks, rebuilt once per change, so a query costs
        one dict lookup however many endpoints there are."""
        cached = self._views.get(asker)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        with self._lock:
            version = self._version
            nets = {k[1] for k in self._entries if k[0] == asker}
            view: dict[str, set[Address]] = {}
            for e in self._entries.values():
                if e.network_id in nets:
                    for n in e.names:
                        view.setdefault(n, set()).update(_addresses(e))
            for e in self._entries.values():  # the asker's link aliases, on that network
                if e.container_id == asker:
                    for alias, target in e.links:
                        found = self._on(e.network_id, target)
                        if found:
                            view[alias] = found
            built = {n: sorted(ips, key=lambda a: (a.version, a)) for n, ips in view.items()}
            if nets:  # no entries for strangers: a view per unknown asker would only grow
                self._views[asker] = (version, built)
        return built

    def _on(self, network_id: str, name: str) -> set[Address]:
        """Under the lock: the addresses `name` has on one network."""
        return {a for e in self._entries.values()
                if e.network_id == network_id and name in e.names for a in _addresses(e)}  # fmt: skip

    def lookup(self, asker: str, name: str) -> list[Address] | None:
        """Addresses (IPv4 first, then IPv6) for `name` on the asker's networks; None when the
        name is unknown there."""
        found = self._view(asker).get(normalize(name))
        return list(found) if found else None

    def reverse(self, asker: str, ip: IPv4Address) -> str | None:
        with self._lock:
            nets = {k[1] for k in self._entries if k[0] == asker}
            for e in self._entries.values():
                if e.network_id in nets and e.ip == ip and e.names:
                    return e.names[0]
        return None


def _addresses(e: Entry) -> tuple[Address, ...]:
    return (e.ip,) if e.ip6 is None else (e.ip, e.ip6)


def ptr_address(qname: str) -> IPv4Address | None:
    """`4.3.2.1.in-addr.arpa` -> 1.2.3.4, None for anything else."""
    labels = normalize(qname).split(".")
    if len(labels) != 6 or labels[4:] != ["in-addr", "arpa"]:
        return None
    try:
        return IPv4Address(".".join(reversed(labels[:4])))
    except ValueError:
        return None
