"""Where a registry is and how to talk to it (E5): `docker.io` names go to the mirrors first
(`--registry-mirror`) and then to registry-1.docker.io; every registry is tried over HTTPS with
the system CAs plus `certs.d/HOST[:PORT]/*.crt` (client certificates: `*.cert` + `*.key`), and an
insecure one (`--insecure-registry`, 127.0.0.0/8 by default as dockerd) also without verification
and over plain HTTP."""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.images.reference import DEFAULT_DOMAIN

DOCKER_HUB = "registry-1.docker.io"
CERTS_DIRS = (Path("/etc/docker/certs.d"), Path("/etc/dockyard/certs.d"))


@dataclass(frozen=True)
class RegistryOptions:
    """The daemon's registry settings (flags or daemon.json)."""

    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ("127.0.0.0/8",)
    certs_dirs: tuple[Path, ...] = CERTS_DIRS
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    max_download_attempts: int = 5  # retries of a failed layer download (dockerd 20.10's count)
    retry_unit: float = 1.0  # seconds per step of the retry countdown (D-registry-4)
    hub: str = DOCKER_HUB  # where docker.io names go after the mirrors (tests: a closed port)


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # "https" or "http"
    host: str  # host[:port] as the connection uses it
    verify: bool = True
    mirror: bool = False
    certs: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.scheme != "https":
            return None
        # Keyed by the certs.d files and their times: a CA added there is seen at once.
        stamp = tuple((p, p.stat().st_mtime_ns) for d in self.certs for p in sorted(d.iterdir()))
        return tls_context(self.verify, self.certs, stamp)


@functools.lru_cache(maxsize=64)
def tls_context(verify: bool = True, certs: tuple[Path, ...] = (),
                stamp: tuple[object, ...] = ()) -> ssl.SSLContext:  # fmt: skip
    """One context per trust setting: loading the system CAs takes tens of milliseconds."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for d in certs:
        for ca in sorted(d.glob("*.crt")):
            ctx.load_verify_locations(cafile=str(ca))
        for cert in sorted(d.glob("*.cert")):
            key = cert.with_suffix(".key")
            if key.exists():
                ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_insecure(host: str, insecure: tuple[str, ...]) -> bool:
    """As dockerd: listed by name (host or host:port), or an address of it inside a listed CIDR."""
    if host in insecure or _hostname(host) in insecure:
        return True
    nets = []
    for item in insecure:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue
    if not nets:
        return False
    name = _hostname(host)
    try:
        addrs = [ipaddress.ip_address(name)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return False
        addrs = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    return any(a in n for a in addrs for n in nets)


def _certs(host: str, dirs: tuple[Path, ...]) -> tuple[Path, ...]:
    return tuple(d / host for d in dirs if (d / host).is_dir())


def _mirror(url: str, dirs: tuple[Path, ...]) -> Endpoint:
    scheme, _, rest = url.partition("://")
    host = rest.rstrip("/").split("/", 1)[0] if rest else scheme
    scheme = scheme if rest else "https"
    return Endpoint(scheme, host, mirror=True, certs=_certs(host, dirs))


def endpoints(domain: str, opts: RegistryOptions, push: bool = False) -> list[Endpoint]:
    """The endpoints to try for `domain`, in order."""
    if domain == DEFAULT_DOMAIN:
        found = [] if push else [_mirror(m, opts.certs_dirs) for m in opts.mirrors]
        if opts.hub != DOCKER_HUB:  # a stand-in for Docker Hub, spoken to as any other
            return [*found, *endpoints(opts.hub, opts, push)]
        return [*found, Endpoint("https", DOCKER_HUB, certs=_certs(domain, opts.certs_dirs))]
    certs = _certs(domain, opts.certs_dirs)
    if is_insecure(domain, opts.insecure):
        return [Endpoint("https", domain, verify=False, certs=certs), Endpoint("http", domain)]
    return [Endpoint("https", domain, certs=certs)]
