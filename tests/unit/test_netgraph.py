"""The network graph's model and renderers (#18 item 3, B1; N1-N5), on records made here: which
nodes and edges `build` makes for each mode, what JSON says, DOT quoting, the text tree."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.core.container import ContainerRecord
from dockyard.network import graph, graphdot, graphtext, netlink
from dockyard.network.graph import LinkFact
from dockyard.network.records import EndpointRow, NetworkRow
from dockyard.services.netgraph import NetworkGraph, Rendered, check_format

BRIDGE_ID = "b" * 64
USER_ID = "a" * 64
SVG = "{http://www.w3.org/2000/svg}"


def net_row(nid: str, name: str, device: str, subnet: str, gateway: str, **doc: Any) -> NetworkRow:
    return NetworkRow(nid, name, "bridge", "2026-01-01T00:00:00Z",
                      {"Device": device, "Subnet": subnet, "Gateway": gateway, **doc})  # fmt: skip


NETS = [
    net_row(BRIDGE_ID, "bridge", "dockyard0", "172.18.0.0/16", "172.18.0.1"),
    NetworkRow("h" * 64, "host", "host", "2026-01-01T00:00:00Z", {}),
    NetworkRow("n" * 64, "none", "null", "2026-01-01T00:00:00Z", {}),
    net_row(USER_ID, "mynet", "dy-aaaaaaaaaaaa", "10.77.0.0/24", "10.77.0.1"),
]


def record(cid: str, name: str, mode: str = "default", nets: dict[str, Any] | None = None,
           links: list[str] | None = None, status: str = "running") -> ContainerRecord:  # fmt: skip
    doc = {
        "State": {"Status": status},
        "Config": {"Image": "busybox"},
        "HostConfig": {"NetworkMode": mode, "Links": links},
        "NetworkSettings": {"Networks": nets or {}},
    }
    return ContainerRecord(cid, name, "2026-01-01T00:00:00Z", "sha256:x", doc)


def settings(nid: str, ip: str, plen: int, gw: str, aliases: list[str] | None = None,
             links: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {"NetworkID": nid, "IPAddress": ip, "IPPrefixLen": plen, "Gateway": gw,
            "MacAddress": "02:42:00:00:00:01", "Aliases": aliases, "Links": links,
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0}  # fmt: skip


def endpoint(cid: str, nid: str, ip: str, veth: str, ifname: str = "eth0",
             ports: list[dict[str, Any]] | None = None) -> EndpointRow:  # fmt: skip
    return EndpointRow(cid, nid, "e" * 64, ip, "02:42:00:00:00:01", veth,
                       {"ifname": ifname, "ports": ports or [], "gateway": ports is not None})  # fmt: skip


WEB, DB, JOIN, HOSTC, NONEC, GONE = ("1" * 64, "2" * 64, "3" * 64, "4" * 64, "5" * 64, "6" * 64)


def scene() -> graph.Graph:
    """web on the default bridge with two ports and a link to db; db on bridge and mynet (alias
    `database`); a container: joiner of web, a host-mode and a none-mode container, a stopped one."""
    recs = [
        record(
            WEB,
            "web",
            nets={"bridge": settings(BRIDGE_ID, "172.18.0.2", 16, "172.18.0.1")},
            links=["/db:/web/dbalias"],
        ),  # fmt: skip
        record(
            DB,
            "db",
            nets={
                "mynet": settings(USER_ID, "10.77.0.2", 24, "10.77.0.1", ["database", DB[:12]]),
                "bridge": settings(BRIDGE_ID, "172.18.0.3", 16, "172.18.0.1"),
            },
        ),  # fmt: skip
        record(JOIN, "joiner", mode="container:web"),
        record(HOSTC, "hosty", mode="host", nets={"host": {"NetworkID": "h" * 64}}),
        record(NONEC, "nothing", mode="none", nets={"none": {"NetworkID": "n" * 64}}),
        record(GONE, "stopped", status="exited"),
    ]
    ports = [
        {"proto": "tcp", "container_port": 80, "host_ip": "0.0.0.0", "host_port": 8080},
        {"proto": "udp", "container_port": 53, "host_ip": "127.0.0.1", "host_port": 5353},
    ]
    eps = [
        endpoint(WEB, BRIDGE_ID, "172.18.0.2", "dyv0000001", ports=ports),
        endpoint(DB, USER_ID, "10.77.0.2", "dyv0000002", ports=[]),
        endpoint(DB, BRIDGE_ID, "172.18.0.3", "dyv0000003", ifname="eth1"),
    ]
    kernel = [
        LinkFact("dockyard0", 7, up=True),
        LinkFact("dy-aaaaaaaaaaaa", 8, up=True),
        LinkFact("dyv0000001", 101, 2, "dockyard0", True),
        LinkFact("dyv0000002", 102, 2, "dy-aaaaaaaaaaaa", True),
    ]  # dyv0000003 is missing from the kernel
    return graph.build(NETS, eps, recs, kernel)


def test_build_nodes_modes_and_kernel_facts() -> None:
    """B1: bridge networks only (not host/none), live containers only; each mode; kernel facts
    joined by name, a veth the kernel lacks has no index."""
    g = scene()
    assert [n.name for n in g.networks] == ["bridge", "mynet"]
    assert g.networks[0].kernel == LinkFact("dockyard0", 7, up=True) and g.networks[0].default
    by = {c.name: c for c in g.containers}
    assert sorted(by) == ["db", "hosty", "joiner", "nothing", "web"]  # not the stopped one
    assert (by["web"].mode, by["hosty"].mode, by["nothing"].mode, by["joiner"].mode) == (
        "bridge", "host", "none", "container")  # fmt: skip
    assert by["joiner"].netns_of == WEB
    assert [e.ifname for e in by["db"].endpoints] == ["eth0", "eth1"]
    eth0, eth1 = by["db"].endpoints
    assert (eth0.network, eth0.veth.ifindex, eth0.veth.peer_ifindex, eth0.veth.master) == (
        "mynet", 102, 2, "dy-aaaaaaaaaaaa")  # fmt: skip
    assert eth0.aliases == ["database", DB[:12]]
    assert (eth1.veth.name, eth1.veth.ifindex, eth1.veth.up) == ("dyv0000003", None, False)
    assert [(p.host_ip, p.host_port, p.container_port, p.proto) for p in by["web"].ports] == [
        ("127.0.0.1", 5353, 53, "udp"), ("0.0.0.0", 8080, 80, "tcp")]  # fmt: skip
    assert by["web"].links == [graph.Link("db", "dbalias", "bridge", DB)]


def test_build_edges() -> None:
    """B1: endpoint (network -> container), port, link, netns (joiner -> owner) and host
    edges, by node id."""
    g = scene()
    edges = {(e.source, e.target, e.kind) for e in g.edges}
    c = {n: f"ctr:{i[:12]}" for n, i in (("web", WEB), ("db", DB), ("join", JOIN), ("host", HOSTC))}
    assert edges == {
        (f"net:{BRIDGE_ID[:12]}", c["web"], "endpoint"),
        (f"net:{USER_ID[:12]}", c["db"], "endpoint"),
        (f"net:{BRIDGE_ID[:12]}", c["db"], "endpoint"),
        ("port:0.0.0.0:8080/tcp", c["web"], "port"),
        ("port:127.0.0.1:5353/udp", c["web"], "port"),
        (c["web"], c["db"], "link"),
        (c["join"], c["web"], "netns"),
        ("host", c["host"], "host"),
    }
    label = next(e.label for e in g.edges if e.target == c["db"] and "mynet" not in e.label
                 and e.source == f"net:{USER_ID[:12]}")  # fmt: skip
    assert label.splitlines() == ["dyv0000002 \u2194 eth0", "10.77.0.2/24",
                                  f"aliases: database, {DB[:12]}"]  # fmt: skip


def test_link_to_a_stopped_target_has_no_edge_and_an_empty_container() -> None:
    recs = [record(WEB, "web", links=["/gone:/web/g"])]
    g = graph.build(NETS, [], recs, [])
    assert g.containers[0].links == [graph.Link("gone", "g", "bridge", "")]
    assert [e for e in g.edges if e.kind == "link"] == []


def test_json_shape() -> None:
    """docs/network-graph.md's shape, field by field for one endpoint; it is JSON-serialisable."""
    doc = json.loads(json.dumps(scene().to_json()))
    assert doc["Version"] == 1 and doc["Host"] == {"Node": "host", "Containers": [HOSTC]}
    assert doc["Networks"][1] == {
        "Node": f"net:{USER_ID[:12]}", "Id": USER_ID, "Name": "mynet", "Driver": "bridge",
        "Bridge": "dy-aaaaaaaaaaaa", "Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1",
        "IPv6Subnet": "", "IPv6Gateway": "", "Internal": False, "Default": False,
        "Kernel": {"Ifindex": 8, "Up": True}, "Containers": [DB],
    }  # fmt: skip
    assert doc["Networks"][0]["Containers"] == [DB, WEB]  # the graph's order: by name
    db = next(c for c in doc["Containers"] if c["Name"] == "db")
    assert db["Endpoints"][0] == {
        "Network": "mynet", "NetworkID": USER_ID, "EndpointID": "e" * 64, "Ifname": "eth0",
        "IPAddress": "10.77.0.2", "IPPrefixLen": 24, "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "MacAddress": "02:42:00:00:00:01", "Gateway": "10.77.0.1",
        "DefaultRoute": True, "Aliases": ["database", DB[:12]],
        "Veth": {"Name": "dyv0000002", "Ifindex": 102, "PeerIfindex": 2,
                 "Master": "dy-aaaaaaaaaaaa", "Up": True},
    }  # fmt: skip
    assert db["Endpoints"][1]["Veth"]["Ifindex"] is None
    join = next(c for c in doc["Containers"] if c["Name"] == "joiner")
    assert (join["Mode"], join["NetnsOf"], join["NetworkMode"]) == (
        "container",
        WEB,
        "container:web",
    )
    assert doc["Ports"][0] == {"Node": "port:127.0.0.1:5353/udp", "Container": WEB,
                               "HostIp": "127.0.0.1", "HostPort": 5353, "ContainerPort": 53,
                               "Proto": "udp", "Network": "bridge"}  # fmt: skip
    assert {"From": "host", "To": f"ctr:{HOSTC[:12]}", "Kind": "host",
            "Label": "host network"} in doc["Edges"]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("web", '"web"'),
        ('a"b', '"a\\"b"'),
        ("back\\slash", '"back\\\\slash"'),
        ("two\nlines", '"two\\nlines"'),
        ('x\\"; evil -> y [label="', '"x\\\\\\"; evil -> y [label=\\""'),
        ("port:0.0.0.0:80/tcp", '"port:0.0.0.0:80/tcp"'),
    ],
)
def test_dot_quote(text: str, quoted: str) -> None:
    assert graphdot.quote(text) == quoted


def test_dot_text_has_every_node_and_edge() -> None:
    dot = graphdot.to_dot(scene())
    assert dot.startswith("digraph network {") and dot.rstrip().endswith("}")
    for node in ("host", f"net:{BRIDGE_ID[:12]}", f"ctr:{WEB[:12]}", f"ctr:{NONEC[:12]}",
                 "port:0.0.0.0:8080/tcp", "port:127.0.0.1:5353/udp"):  # fmt: skip
        assert f'  "{node}" [' in dot
    assert f'"port:0.0.0.0:8080/tcp" -> "ctr:{WEB[:12]}" [label="80/tcp"' in dot
    assert f'"ctr:{JOIN[:12]}" -> "ctr:{WEB[:12]}" [label="shares netns"' in dot


def test_hostile_names_stay_inside_their_strings_through_graphviz() -> None:
    """Names, aliases and images with quotes, backslashes, braces and newlines: Graphviz reads
    the DOT, the SVG has exactly the nodes and edges of the model and shows the texts."""
    evil = 'we"b} -> x\\'
    recs = [record(WEB, "web", nets={"mynet": settings(USER_ID, "10.77.0.2", 24, "10.77.0.1",
                                                       [evil, "line\nbreak"])})]  # fmt: skip
    recs[0].config["Image"] = 'img"}{'
    eps = [endpoint(WEB, USER_ID, "10.77.0.2", "dyv0000001")]
    g = graph.build(NETS, eps, recs, [])
    svg = ET.fromstring(graphdot.to_svg(graphdot.to_dot(g)))
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert titles[:2] == ["network", "cluster_host"]
    assert titles[2:] == [f"net:{BRIDGE_ID[:12]}", f"net:{USER_ID[:12]}", f"ctr:{WEB[:12]}",
                          f"net:{USER_ID[:12]}->ctr:{WEB[:12]}"]  # fmt: skip
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert f"aliases: {evil}, line" in texts and "break" in texts
    assert 'img"}{ (running)' in texts


def test_svg_without_graphviz_is_a_500_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(errors.System, match="apt-get install graphviz"):
        graphdot.to_svg("digraph {}")


def test_dot_failure_and_timeout_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.System, match="graphviz dot failed: .*syntax error"):
        graphdot.to_svg("digraph { -> }")

    def slow(*a: Any, **k: Any) -> Any:
        raise subprocess.TimeoutExpired("dot", 0.5)

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(errors.System, match="did not lay the graph out in 0.5s"):
        graphdot.to_svg("digraph {}", timeout=0.5)


def test_text_tree() -> None:
    text = graphtext.to_text(scene())
    assert text.splitlines() == [
        "dockyard0  network bridge (default bridge)  subnet 172.18.0.0/16  gateway 172.18.0.1",
        "  db  dyv0000003 (no such link) <-> eth1  172.18.0.3/16",
        "  web  dyv0000001 #101 <-> eth0 #2  172.18.0.2/16",
        "      port 127.0.0.1:5353 -> 53/udp",
        "      port 0.0.0.0:8080 -> 80/tcp",
        "      link db as dbalias",
        "dy-aaaaaaaaaaaa  network mynet  subnet 10.77.0.0/24  gateway 10.77.0.1",
        "  db  dyv0000002 #102 <-> eth0 #2  10.77.0.2/24",
        f"      aliases database, {DB[:12]}",
        "host  (the host's network namespace)",
        "  hosty",
        "none  (loopback only)",
        "  nothing",
        "container:  (another container's network namespace)",
        "  joiner -> web",
    ]


def test_service_formats_and_a_bad_one() -> None:
    """services/netgraph.py: json gives the model, the others bytes with their content type;
    an unknown format is a 400 in the daemon's words."""
    rows = type("Repo", (), {"all": lambda self: NETS, "endpoints": lambda self: []})()
    svc = NetworkGraph(rows, lambda: [record(HOSTC, "hosty", mode="host")], lambda names: [])  # type: ignore[arg-type]
    assert isinstance(svc.render("json"), graph.Graph)
    for fmt, ctype in (
        ("dot", "text/vnd.graphviz"),
        ("svg", "image/svg+xml"),
        ("text", "text/plain"),
    ):
        out = svc.render(fmt)
        assert isinstance(out, Rendered) and out.content_type.startswith(ctype) and out.body
    with pytest.raises(errors.InvalidParameter, match="invalid format 'png': expected one of json"):
        check_format("png")


def big_scene(
    n: int,
) -> tuple[list[NetworkRow], list[EndpointRow], list[ContainerRecord], list[LinkFact]]:
    """n containers: half on the default bridge with a published port, half on mynet with an
    alias, every fifth linked to its neighbour."""
    recs, eps, facts = [], [], []
    for i in range(n):
        cid = hashlib.sha256(str(i).encode()).hexdigest()
        user = i % 2 == 1
        nid, net, ip = (USER_ID, "mynet", f"10.77.{i // 250}.{i % 250 + 2}") if user else (
            BRIDGE_ID, "bridge", f"172.18.{i // 250}.{i % 250 + 2}")  # fmt: skip
        links = [f"/c{i - 1}:/c{i}/peer"] if i % 5 == 4 and not user else None
        recs.append(record(cid, f"c{i}", links=links,
                           nets={net: settings(nid, ip, 16, "x", [f"alias{i}"] if user else None)}))  # fmt: skip
        ports = None if user else [{"proto": "tcp", "container_port": 80, "host_ip": "0.0.0.0",
                                    "host_port": 20000 + i}]  # fmt: skip
        eps.append(endpoint(cid, nid, ip, f"dyv{i:07x}", ports=ports))
        facts.append(LinkFact(f"dyv{i:07x}", 1000 + i, 2, "dockyard0", True))
    return NETS, eps, recs, facts


def test_a_hundred_containers_build_and_lay_out_in_well_under_a_second() -> None:
    """B1 target: the model and DOT of 100 containers in milliseconds, Graphviz's layout of it
    (SVG) in well under a second."""
    nets, eps, recs, facts = big_scene(100)
    model, layout = [], []  # best of three: the machine is shared
    for _ in range(3):
        t0 = time.perf_counter()
        g = graph.build(nets, eps, recs, facts)
        dot = graphdot.to_dot(g)
        t1 = time.perf_counter()
        svg = graphdot.to_svg(dot)
        layout.append(time.perf_counter() - t1)
        model.append(t1 - t0)
    assert len(g.containers) == 100 and svg.count(b'class="node"') == 2 + 100 + 50
    assert min(model) < 0.05, f"model+dot {min(model):.3f}s"
    assert min(layout) < 0.6, f"svg {min(layout):.3f}s"


def test_link_facts_read_sysfs(tmp_path: Path) -> None:
    """netlink.link_facts: ifindex, iflink, operstate and the master link of each name asked,
    once each; a missing link or a name that is not one file name is left out."""
    for name, index, iflink, state, master in (("br0", 7, 7, "up", None),
                                               ("dyv1", 21, 2, "up", "br0"),
                                               ("dyv2", 22, 3, "down", None)):  # fmt: skip
        d = tmp_path / name
        d.mkdir()
        (d / "ifindex").write_text(f"{index}\n")
        (d / "iflink").write_text(f"{iflink}\n")
        (d / "operstate").write_text(f"{state}\n")
        if master:
            (d / "master").symlink_to(f"../{master}")
    facts = netlink.link_facts(["br0", "dyv1", "dyv2", "dyv1", "gone", "../br0", ""], tmp_path)
    assert facts == [LinkFact("br0", 7, 7, "", True), LinkFact("dyv1", 21, 2, "br0", True),
                     LinkFact("dyv2", 22, 3, "", False)]  # fmt: skip
