"""R1 (#17, D-scale-4): a container's entry in its network's `peers` map goes in over nf_tables
netlink (network/firewall/elements.py), not through libnftables, whose `add element` first read
every chain on the host (25 ms beside 600 containers). nft must list it exactly as the element
it would have added itself."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from dockyard import errors
from dockyard.network.firewall import elements, nft

pytestmark = pytest.mark.integration


def test_the_element_nft_lists_is_the_one_nft_would_add() -> None:
    table = f"dockyard-eltest{os.getpid()}"
    nft.apply(f"add table netdev {table}\n"
              f"add map netdev {table} peers {{ type ether_addr : iface_index; }}\n")  # fmt: skip
    try:
        nft.apply(
            f'add element netdev {table} peers {{ 02:42:0a:00:00:02 comment "dockyard:a" : "lo" }}\n'
        )
        elements.add_interface_element("netdev", table, "peers", "02:42:0a:00:00:03", "lo",
                                       "dockyard:0123456789ab")  # fmt: skip
        elements.add_interface_element(
            "netdev", table, "peers", "02:42:0a:00:00:03", "lo", "dockyard:0123456789ab"
        )  # again: no error, as nft's add
        out = subprocess.run(["nft", "-j", "list", "map", "netdev", table, "peers"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        (found,) = [x["map"] for x in json.loads(out)["nftables"] if "map" in x]
        assert found["elem"] == [
            [{"elem": {"val": "02:42:0a:00:00:02", "comment": "dockyard:a"}}, "lo"],
            [{"elem": {"val": "02:42:0a:00:00:03", "comment": "dockyard:0123456789ab"}}, "lo"],
        ]
        with pytest.raises(errors.System, match="Interface does not exist: dyv-none"):
            elements.add_interface_element("netdev", table, "peers", "02:42:0a:00:00:04",
                                           "dyv-none", "dockyard:x")  # fmt: skip
        with pytest.raises(errors.System, match="No such file or directory"):
            elements.add_interface_element("netdev", table, "nomap", "02:42:0a:00:00:04", "lo",
                                           "dockyard:x")  # fmt: skip
    finally:
        nft.apply(f"delete table netdev {table}\n")
