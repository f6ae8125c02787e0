"""The host's `filter` FORWARD chain as the test session leaves it (D-net-6): test daemons run in
the host namespace and add their accepts there; teardown removes them by tag, and an empty
`table ip filter` that only our daemons created goes at session end."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from dockyard.network.firewall import forward


def filter_table_exists() -> bool:
    return (
        subprocess.run(["nft", "list", "table", "ip", "filter"], capture_output=True).returncode
        == 0
    )


def remove_rules(bridge: str) -> None:
    forward.remove(bridge)


def leftover_rules(mine: re.Pattern[str]) -> list[str]:
    if shutil.which("iptables") is None:
        return []
    listing = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True)
    return [f"iptables FORWARD rule of {b}" for b in forward.parse(listing.stdout) if mine.match(b)]


def drop_empty_filter_table() -> None:
    """Only when every chain is an empty base chain with policy accept: a chain deletion fails
    on a non-empty chain, so a rule added meanwhile by someone else keeps the table."""
    out = subprocess.run(
        ["nft", "-j", "list", "table", "ip", "filter"], capture_output=True, text=True
    )
    if out.returncode != 0:
        return
    items = json.loads(out.stdout).get("nftables", [])
    if any("rule" in i or "set" in i or "map" in i for i in items):
        return
    chains = [i["chain"] for i in items if "chain" in i]
    if any(c.get("policy") != "accept" for c in chains):
        return
    for c in chains:
        if subprocess.run(["nft", "delete", "chain", "ip", "filter", c["name"]],
                          capture_output=True).returncode != 0:  # fmt: skip
            return
    subprocess.run(["nft", "delete", "table", "ip", "filter"], capture_output=True)
