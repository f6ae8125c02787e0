"""An IPv4 address of the tests' own outside 127.0.0.0/8, for a registry that is not insecure by
default (dockerd and dockyard take 127.0.0.0/8 as insecure registries): one /32 from
198.18.0.0/15 (RFC 2544's benchmarking range) that no interface of the host has, on a link of
its own in the host's network namespace, removed afterwards.

The link is a bridge without ports (`dyrg<hex>`), not a `dummy` one: dummy is a kernel option
some kernels lack (this VM's has CONFIG_DUMMY off), while dockyard needs bridges anyway. Traffic
to the address is local delivery; nothing leaves the host. Every link made here is recorded in
`CREATED`, so the session's leak check can see one left behind."""

from __future__ import annotations

import ipaddress
import random
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

RANGE = ipaddress.ip_network("198.18.0.0/15")
CREATED: list[str] = []  # every link made by this session


def _ip(*args: str) -> str:
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


def _unused_address() -> str:
    """A random address of RANGE that no interface of the host holds (none ending in .0 or
    .255, which look like a network's or a broadcast address)."""
    taken = _ip("-4", "-o", "addr", "show")
    for _ in range(100):
        addr = str(RANGE[random.randrange(1, RANGE.num_addresses - 1)])
        if f" {addr}/" not in taken and not addr.endswith((".0", ".255")):
            return addr
    raise RuntimeError(f"no free address in {RANGE}")


@contextmanager
def own_address() -> Iterator[str]:
    """Yield an address of RANGE on a new link of ours; the link (and so the address) is
    removed afterwards, even when the test failed."""
    link = f"dyrg{secrets.token_hex(4)}"
    addr = _unused_address()
    _ip("link", "add", link, "type", "bridge")
    CREATED.append(link)
    try:
        _ip("addr", "add", f"{addr}/32", "dev", link)
        _ip("link", "set", link, "up")
        yield addr
    finally:
        _ip("link", "del", link)


def left_behind() -> list[str]:
    """The links this session made that still exist (each is removed as it is reported)."""
    present = {line.split(":")[1].strip() for line in _ip("-o", "link").splitlines()}
    left = [link for link in CREATED if link in present]
    for link in left:
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    return left
