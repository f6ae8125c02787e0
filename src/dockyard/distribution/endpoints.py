"""Where a registry is and how to talk to it (E5): `docker.io` names go to the mirrors first
(`--registry-mirror`) and then to registry-1.docker.io; every registry is tried over HTTPS with
the system CAs plus `certs.d/HOST[:PORT]/*.crt` (client certificates: `*.cert` + `*.key`, each
with its pair or the pull fails, as in dockerd), and an insecure one (`--insecure-registry`:
HOST[:PORT] as the reference names it, or a CIDR; 127.0.0.0/8 by default as dockerd) also
without verification and over plain HTTP. The certs.d directories are /etc/docker/certs.d, then
/etc/dockyard/certs.d or the one `--registry-certs-dir` names (D-registry-6)."""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import errors
from dockyard.images.reference import DEFAULT_DOMAIN

DOCKER_HUB = "registry-1.docker.io"
DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")
CERTS_DIRS = (DOCKER_CERTS_DIR, Path("/etc/dockyard/certs.d"))


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
        names = {p.name for p in d.iterdir()}
        for name in sorted(names):
            path = d / name
            if name.endswith(".crt"):
                ctx.load_verify_locations(cafile=str(path))
            elif name.endswith(".cert"):
                key = name.removesuffix(".cert") + ".key"
                if key not in names:
                    raise errors.System(f"missing key {key} for client certificate {name}. Note "
                                        "that CA certificates should use the extension .crt")  # fmt: skip
                ctx.load_cert_chain(str(path), str(d / key))
            elif name.endswith(".key"):
                cert = name.removesuffix(".key") + ".cert"
                if cert not in names:
                    raise errors.System(f"Missing client certificate {cert} for key {name}")
    return ctx


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_insecure(host: str, insecure: tuple[str, ...]) -> bool:
    """As dockerd: listed by the name the reference gives (`host:port` with its port, a scheme
    ignored), or an address of it inside a listed CIDR. A host listed without a port is not
    that host on another port."""
    if host in (i.split("://", 1)[-1] for i in insecure):
        return True
    nets = []
    for item in insecure:
        if "/" not in item:  # a bare address is a name, as Go's ParseCIDR wants the prefix
            continue
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
