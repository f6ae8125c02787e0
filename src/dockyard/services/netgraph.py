"""`GET /dockyard/network/graph` and `dockyard network graph` (#18 item 3, B1): the network
graph built from the daemon's records (the network service's rows, the container records) and
the kernel's facts about the bridges and veths they name (sysfs), rendered as JSON, DOT, SVG (Graphviz) or a text tree."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard import errors
from dockyard.core.container import ContainerRecord
from dockyard.network import graph, graphdot, graphtext, netlink
from dockyard.network.records import NetworkRepo

FORMATS = ("json", "dot", "svg", "text")
CONTENT_TYPES = {
    "dot": "text/vnd.graphviz; charset=utf-8",
    "svg": "image/svg+xml",
    "text": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Rendered:
    content_type: str
    body: bytes


def check_format(fmt: str) -> str:
    fmt = fmt or "json"
    if fmt not in FORMATS:
        raise errors.InvalidParameter(
            f"invalid format {fmt!r}: expected one of {', '.join(FORMATS)}"
        )
    return fmt


class NetworkGraph:
    def __init__(
        self,
        repo: NetworkRepo,
        containers: Callable[[], list[ContainerRecord]],
        kernel: Callable[[Iterable[str]], list[graph.LinkFact]] = netlink.link_facts,
    ) -> None:
        self.repo = repo
        self.containers = containers
        self.kernel = kernel

    def build(self) -> graph.Graph:
        nets, eps = self.repo.all(), self.repo.endpoints()
        devices = [str(n.doc.get("Device") or "") for n in nets] + [e.veth for e in eps]
        return graph.build(nets, eps, self.containers(), self.kernel(devices))

    def render(self, fmt: str) -> Rendered | graph.Graph:
        """The graph itself for json (the API encodes it), else the rendered bytes."""
        fmt = check_format(fmt)
        g = self.build()
        if fmt == "json":
            return g
        if fmt == "text":
            return Rendered(CONTENT_TYPES["text"], graphtext.to_text(g).encode())
        dot = graphdot.to_dot(g)
        if fmt == "dot":
            return Rendered(CONTENT_TYPES["dot"], dot.encode())
        return Rendered(CONTENT_TYPES["svg"], graphdot.to_svg(dot))
