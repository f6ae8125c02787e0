"""The per-container files Docker bind-mounts: /etc/hostname, /etc/hosts, /etc/resolv.conf (N6).
Written under <data-root>/containers/<id>/ so they survive restarts and show in inspect."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dockyard.runtime import spec

_HOSTS_BASE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def host_resolv_conf(source: Path = Path("/etc/resolv.conf")) -> str:
    """The host's resolv.conf without loopback nameservers, which mean nothing inside another
    network namespace (Docker drops them the same way)."""
    try:
        lines = source.read_text().splitlines()
    except OSError:
        lines = []
    kept = []
    for line in lines:
        parts = line.split()
        if (
            len(parts) >= 2
            and parts[0] == "nameserver"
            and (parts[1].startswith("127.") or parts[1] == "::1")
        ):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n" if kept else ""


def write_files(
    ctr_dir: Path,
    hostname: str,
    domainname: str,
    host_network: bool,
    extra_hosts: list[str] | None = None,
    address: str | None = None,
    resolv_conf: str | None = None,
) -> dict[str, str]:
    """Write hostname, hosts and resolv.conf; return the inspect paths keyed as Docker names them."""
    ctr_dir.mkdir(parents=True, exist_ok=True)
    hostname_path = ctr_dir / "hostname"
    hosts_path = ctr_dir / "hosts"
    resolv_path = ctr_dir / "resolv.conf"
    if host_network:
        _write(hostname_path, (os.uname().nodename) + "\n")
        try:
            hosts = Path("/etc/hosts").read_text()
        except OSError:
            hosts = _HOSTS_BASE
        resolv = Path("/etc/resolv.conf").read_text() if Path("/etc/resolv.conf").exists() else ""
    else:
        _write(hostname_path, hostname + "\n")
        hosts = _HOSTS_BASE
        for entry in extra_hosts or []:
            name, _, ip = entry.partition(":")
            hosts += f"{ip}\t{name}\n"
        if address:
            fqdn = f"{hostname}.{domainname}" if domainname else hostname
            hosts += (
                f"{address}\t{fqdn}\n" if fqdn == hostname else f"{address}\t{fqdn} {hostname}\n"
            )
        resolv = host_resolv_conf() if resolv_conf is None else resolv_conf
    _write(hosts_path, hosts)
    _write(resolv_path, resolv)
    return {
        "HostnamePath": str(hostname_path),
        "HostsPath": str(hosts_path),
        "ResolvConfPath": str(resolv_path),
    }


def file_mounts(paths: dict[str, str], read_only_rootfs: bool) -> list[dict[str, object]]:
    """OCI bind mounts for the three files (rw like Docker's, unless the rootfs is read-only)."""
    opts = ["rbind", "rprivate"] + (["ro"] if read_only_rootfs else [])
    return [
        {"destination": dest, "type": "bind", "source": paths[key], "options": list(opts)}
        for dest, key in (
            ("/etc/resolv.conf", "ResolvConfPath"),
            ("/etc/hostname", "HostnamePath"),
            ("/etc/hosts", "HostsPath"),
        )
    ]


def resolve_user(
    rootfs: Path, user_spec: str, group_add: Iterable[str] = ()
) -> tuple[int, int, list[int]]:
    """uid, gid and supplementary gids for `-u`, from the container's own passwd and group."""

    def read(name: str) -> str:
        try:
            return (rootfs / "etc" / name).read_text()
        except OSError:
            return ""

    return spec.resolve_user(user_spec, read("passwd"), read("group"), tuple(group_add))
