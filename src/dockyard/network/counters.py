"""A container's interface counters for `stats` (E6), read on the host side: each endpoint's
veth in the host's /proc/net/dev (one read for every interface, no setns). What the host end
receives the container sent, so the two directions swap; the names are the container's own
(eth0, eth1, ...), as dockerd reads them inside the sandbox. host and none have no endpoints,
hence no `networks`, as dockerd; container:NAME shows NAME's."""

from __future__ import annotations

from pathlib import Path

from dockyard.core.types import Json
from dockyard.network.records import EndpointRow

PROC_NET_DEV = Path("/proc/net/dev")
FIELDS = ("bytes", "packets", "errors", "dropped")


def read_proc_net_dev(path: Path = PROC_NET_DEV) -> dict[str, list[int]]:
    """Interface name -> the 16 counters of its /proc/net/dev line (receive, then transmit)."""
    out: dict[str, list[int]] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if sep:
            out[name.strip()] = [int(v) for v in rest.split()]
    return out


def container_view(host_side: list[int]) -> Json:
    """dockerd's NetworkStats for the container's end of a veth whose host end shows these."""
    rx, tx = host_side[8:12], host_side[0:4]  # the container receives what the host end sends
    doc: Json = {}
    for prefix, values in (("rx", rx), ("tx", tx)):
        for name, value in zip(FIELDS, values, strict=True):
            doc[f"{prefix}_{name}"] = value
    return doc


def interface_stats(endpoints: list[EndpointRow], path: Path = PROC_NET_DEV) -> dict[str, Json]:
    if not endpoints:
        return {}
    table = read_proc_net_dev(path)
    out: dict[str, Json] = {}
    for ep in endpoints:
        counters = table.get(ep.veth)
        if counters is not None and len(counters) >= 12:
            out[str(ep.doc.get("ifname") or "eth0")] = container_view(counters)
    return out
