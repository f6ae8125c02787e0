"""/etc/resolv.conf for a container on the default bridge (N6): the host's file without loopback
nameservers, or, with --dns/--dns-search/--dns-option, a file rebuilt as libnetwork does
(search, nameservers, options); Google's servers when no nameserver is left."""

from __future__ import annotations

from pathlib import Path

_FALLBACK = ["8.8.8.8", "8.8.4.4"]


def _is_loopback(server: str) -> bool:
    return server.startswith("127.") or server == "::1"


def build(
    dns: list[str], search: list[str], options: list[str], host_text: str | None = None
) -> str:
    if host_text is None:
        try:
            host_text = Path("/etc/resolv.conf").read_text()
        except OSError:
            host_text = ""
    lines = host_text.splitlines()
    servers = [p[1] for p in (ln.split() for ln in lines) if len(p) >= 2 and p[0] == "nameserver"]
    if not (dns or search or options):
        kept = [
            ln for ln in lines
            if not ((p := ln.split()) and p[0] == "nameserver" and len(p) >= 2 and _is_loopback(p[1]))
        ]  # fmt: skip
        if not any(ln.split()[:1] == ["nameserver"] for ln in kept):
            kept += [f"nameserver {s}" for s in _FALLBACK]
        return "\n".join(kept) + "\n"
    host_search: list[str] = []
    host_options: list[str] = []
    for ln in lines:
        p = ln.split()
        if p and p[0] in ("search", "domain"):
            host_search = p[1:]
        elif p and p[0] == "options":
            host_options += p[1:]
    servers = dns or [s for s in servers if not _is_loopback(s)] or _FALLBACK
    search = search or host_search
    options = options or host_options
    out = []
    if search and search != ["."]:
        out.append("search " + " ".join(search))
    out += [f"nameserver {s}" for s in servers]
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"
