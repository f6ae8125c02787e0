"""Networking (N1-N6): the default bridge, veth endpoints, IPAM, port publishing through kernel
DNAT in dockyard's own nftables table, links and the per-container network files."""
