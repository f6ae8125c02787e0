"""The `overlay` driver on a one-node swarm (N5, D-dpy6-2): a swarm-scope network whose data
path is a bridge of its own (`dyo-<id>`, BridgeDriver's rules) with a VXLAN device (`dyx-<id>`,
the network's VNI, learning off, no remote: local only) on it. Containers on the network get
veths on that bridge, as on a user bridge network; with no other node there is no peer to tunnel
to, so nothing leaves the host through the VXLAN device."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network

from dockyard.network import netlink
from dockyard.network.bridge import BridgeDriver, BridgeInfo
from dockyard.network.firewall.ruleset import Dnat, Peer
from dockyard.network.records import NetworkRow

FIRST_VNI = 4097  # dockerd's first VXLAN id for overlay networks
DATA_PATH_PORT = 4789  # dockerd's default `--data-path-port`
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def devices(network_id: str) -> tuple[str, str]:
    """The bridge and VXLAN device names of an overlay network (15 characters at most)."""
    return f"dyo-{network_id[:11]}", f"dyx-{network_id[:11]}"


def free_vni(rows: Iterable[NetworkRow]) -> int:
    """The lowest VNI from dockerd's first one that no stored network and no VXLAN device on
    the host (another daemon's) uses: two devices with one VNI on one port clash."""
    used = {int(r.doc["VNI"]) for r in rows if r.doc.get("VNI")} | netlink.vxlan_ids()
    vni = FIRST_VNI
    while vni in used:
        vni += 1
    return vni


class OverlayDriver(BridgeDriver):
    """A BridgeDriver whose bridge also carries the network's VXLAN device."""

    vxlan: str = ""
    vni: int = 0

    def ensure(
        self, stored: IPv4Network | None, dnats: Iterable[Dnat], peers: Iterable[Peer] = ()
    ) -> BridgeInfo:
        info = super().ensure(stored, dnats, peers)
        if not netlink.link_exists(self.vxlan):
            netlink.create_vxlan(self.vxlan, self.vni, self.device, DATA_PATH_PORT)
        return info

    def destroy(self) -> None:
        netlink.delete_link(self.vxlan)
        super().destroy()
