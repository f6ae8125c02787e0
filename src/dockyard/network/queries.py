"""`GET /networks` and `GET /networks/{id}`: the network rows as Docker shows them, with the
attached containers' endpoints."""

from __future__ import annotations

from ipaddress import IPv4Network

from dockyard import errors
from dockyard.core.filters import labels_match
from dockyard.core.types import Json
from dockyard.network import spec6
from dockyard.network.context import NetworkContext
from dockyard.network.views import network_doc, scope_of


class NetworkQueries:
    def __init__(self, ctx: NetworkContext) -> None:
        self.ctx = ctx

    def list(self, filters: dict[str, list[str]]) -> list[Json]:
        out = [self.inspect(row.name, brief=True) for row in self.ctx.repo.all()]
        for key, values in filters.items():
            if key == "name":
                out = [n for n in out if any(v in n["Name"] for v in values)]
            elif key == "id":
                out = [n for n in out if any(n["Id"].startswith(v) for v in values)]
            elif key == "driver":
                out = [n for n in out if n["Driver"] in values]
            elif key == "type":
                builtin = ("bridge", "host", "none")
                out = [
                    n for n in out if ("builtin" if n["Name"] in builtin else "custom") in values
                ]
            elif key == "label":
                out = [n for n in out if labels_match(n["Labels"], values)]
            elif key == "dangling":
                want = values[0].lower() in ("true", "1")
                busy = {e.network_id for e in self.ctx.repo.endpoints()}
                out = [n for n in out
                       if n["Name"] not in ("bridge", "host", "none")
                       and (n["Id"] not in busy) == want]  # fmt: skip
            elif key == "scope":
                out = [n for n in out if n["Scope"] in values]
            else:
                raise errors.InvalidParameter(f"invalid filter '{key}'")
        return out

    def inspect(self, ref: str, brief: bool = False, scope: str = "") -> Json:
        """`scope` (local, swarm, global) finds only a network of that scope, as dockerd."""
        row = self.ctx.repo.find(ref)
        if scope and scope_of(row) != scope:
            raise errors.NotFound(f"network {ref} not found")
        containers: Json = {}
        if not brief:
            for ep in self.ctx.repo.endpoints(row.id):
                try:
                    c = self.ctx.lookup(ep.container_id)
                except errors.NotFound:
                    continue
                plen = IPv4Network(row.doc["Subnet"]).prefixlen
                gw6 = spec6.gateway(row.doc)
                ip6 = ep.doc.get("ip6")
                containers[ep.container_id] = {
                    "Name": c.name, "EndpointID": ep.endpoint_id, "MacAddress": ep.mac,
                    "IPv4Address": f"{ep.ip}/{plen}",
                    "IPv6Address": f"{ip6}/{gw6.network.prefixlen}" if ip6 and gw6 else "",
                }  # fmt: skip
        return network_doc(row, containers)
