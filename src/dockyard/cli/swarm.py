"""`swarm init` and `swarm leave`: the one-node swarm of the daemon (D-dpy6-2), docker's output."""

from __future__ import annotations

import argparse

from dockyard.cli.command import Command, Parser, Session


def _init_flags(p: Parser) -> None:
    p.add_argument("--advertise-addr", default="")
    p.add_argument("--listen-addr", default="0.0.0.0:2377")
    p.add_argument("--data-path-port", type=int, default=0)
    p.add_argument("--default-addr-pool", action="append", default=[])
    p.add_argument("--default-addr-pool-mask-length", type=int, default=24)


def _init(ns: argparse.Namespace, s: Session) -> int:
    body = {
        "ListenAddr": ns.listen_addr,
        "AdvertiseAddr": ns.advertise_addr,
        "DataPathPort": ns.data_path_port,
        "DefaultAddrPool": ns.default_addr_pool,
        "SubnetSize": ns.default_addr_pool_mask_length,
    }
    node_id = s.client.post("/swarm/init", body=body)
    s.print(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
    token = s.client.get("/swarm")["JoinTokens"]["Worker"]
    addr = s.client.get(f"/nodes/{node_id}")["ManagerStatus"]["Addr"]
    s.print("To add a worker to this swarm, run the following command:\n")
    s.print(f"    docker swarm join --token {token} {addr}\n")
    s.print(
        "To add a manager to this swarm, run 'docker swarm join-token manager' and follow "
        "the instructions.\n"
    )
    return 0


def _leave_flags(p: Parser) -> None:
    p.add_argument("-f", "--force", action="store_true")


def _leave(ns: argparse.Namespace, s: Session) -> int:
    s.client.post("/swarm/leave", {"force": "1" if ns.force else "0"})
    s.print("Node left the swarm.")
    return 0


COMMANDS = {
    "init": Command("[OPTIONS]", _init_flags, _init),
    "leave": Command("[OPTIONS]", _leave_flags, _leave),
}
