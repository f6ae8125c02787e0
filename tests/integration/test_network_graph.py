"""`GET /dockyard/network/graph` and `dockyard network graph` (#18 items 3 and 5, B1; N1-N5) on
a real daemon and kernel: a user network with two containers (one with an alias, one linked to
it; a third is connected to it as its eth1), the default bridge with a published-port container and a legacy link to it, a `container:`
joiner, a host-mode and a none-mode container. The JSON is checked field by field against
inspect and the kernel (`ip link`, the container's /sys/class/net), the SVG (Graphviz's) for
every container, address, port and edge, the text tree and the CLI's formats."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.integration.network_helpers import inspect, rm, run

pytestmark = pytest.mark.integration

SVG = "{http://www.w3.org/2000/svg}"
P = "graph-"  # our containers' names: the session daemon may hold other tests' containers


@pytest.fixture(scope="module")
def scene(daemon: Daemon) -> Iterator[dict[str, Any]]:
    net = f"{P}net"
    p = daemon.dockyard("network", "create", net)
    assert p.returncode == 0, p.stderr
    ids: dict[str, str] = {}
    try:
        ids["alpha"] = run(daemon, "--name", f"{P}alpha", "--network", net,
                           "--network-alias", "svc-alpha", "busybox", "sleep", "300")  # fmt: skip
        ids["beta"] = run(daemon, "--name", f"{P}beta", "--network", net,
                          "--link", f"{P}alpha:al", "busybox", "sleep", "300")  # fmt: skip
        ids["web"] = run(daemon, "--name", f"{P}web", "-p", "127.0.0.1::80",
                         "-p", "53/udp", "busybox", "sleep", "300")  # fmt: skip
        ids["client"] = run(daemon, "--name", f"{P}client", "--link", f"{P}web:www",
                            "busybox", "sleep", "300")  # fmt: skip
        p = daemon.dockyard("network", "connect", net, f"{P}client")  # its eth1
        assert p.returncode == 0, p.stderr
        ids["joiner"] = run(daemon, "--name", f"{P}joiner", "--network", f"container:{P}web",
                            "busybox", "sleep", "300")  # fmt: skip
        ids["hosty"] = run(daemon, "--name", f"{P}hosty", "--network", "host",
                           "busybox", "sleep", "300")  # fmt: skip
        ids["nothing"] = run(daemon, "--name", f"{P}nothing", "--network", "none",
                             "busybox", "sleep", "300")  # fmt: skip
        # The kernel marks a bridge up (operstate) once a port forwards, through its linkwatch
        # work, which may lag a start by up to a second: the graph is read after it settles.
        net_id = daemon.api("GET", f"/networks/{net}")[1]["Id"]
        for bridge in (daemon.bridge, f"dy-{net_id[:12]}"):
            _wait_up(Path("/sys/class/net") / bridge / "operstate")
        status, doc = daemon.api("GET", "/dockyard/network/graph")
        assert status == 200, doc
        yield {"ids": ids, "net": net, "json": doc,
               "inspect": {k: inspect(daemon, v) for k, v in ids.items()}}  # fmt: skip
    finally:
        rm(daemon, *reversed(ids.values()))
        daemon.dockyard("network", "rm", net)


def _wait_up(operstate: Path, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while operstate.read_text().strip() != "up" and time.monotonic() < deadline:
        time.sleep(0.02)


def ours(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["Name"].removeprefix(P): c for c in doc["Containers"] if c["Name"].startswith(P)}


def ctr(ids: dict[str, str], key: str) -> str:
    return f"ctr:{ids[key][:12]}"


def test_json_matches_inspect_field_by_field(daemon: Daemon, scene: dict[str, Any]) -> None:
    """B1/N3/N5: each container's id, name, image, state, network mode, and per network the
    network id, endpoint id, address, prefix, MAC, gateway and aliases are inspect's; ports are
    inspect's NetworkSettings.Ports; modes and the netns owner are right."""
    doc, ids = scene["json"], scene["ids"]
    assert doc["Version"] == 1
    got = ours(doc)
    assert sorted(got) == sorted(ids)
    for key, c in got.items():
        ins = scene["inspect"][key]
        assert (c["Id"], "/" + c["Name"], c["Image"], c["State"], c["NetworkMode"]) == (
            ins["Id"], ins["Name"], ins["Config"]["Image"], ins["State"]["Status"],
            ins["HostConfig"]["NetworkMode"])  # fmt: skip
        assert c["Node"] == f"ctr:{ins['Id'][:12]}"
        nets = ins["NetworkSettings"]["Networks"]
        if c["Mode"] == "bridge":
            assert [e["Network"] for e in c["Endpoints"]] == list(nets)
        for e in c["Endpoints"]:
            s = nets[e["Network"]]
            for field in ("NetworkID", "EndpointID", "IPAddress", "IPPrefixLen", "MacAddress",
                          "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen"):  # fmt: skip
                assert e[field] == s[field], (key, field)
            assert e["Aliases"] == (s["Aliases"] or []), key
        assert [e["Ifname"] for e in c["Endpoints"]] == [f"eth{i}" for i in range(len(nets))][
            : len(c["Endpoints"])
        ]
        # the default route (and the ports) on the lowest-named network, as libnetwork's
        assert [e["DefaultRoute"] for e in c["Endpoints"]] == [
            e["Network"] == min(x["Network"] for x in c["Endpoints"]) for e in c["Endpoints"]
        ]
        shown = {f"{p['ContainerPort']}/{p['Proto']}": [{"HostIp": p["HostIp"],
                                                         "HostPort": str(p["HostPort"])}]
                 for p in c["Ports"]}  # fmt: skip
        assert shown == {k: v for k, v in ins["NetworkSettings"]["Ports"].items() if v}, key
    assert (got["web"]["Mode"], got["joiner"]["Mode"], got["hosty"]["Mode"],
            got["nothing"]["Mode"]) == ("bridge", "container", "host", "none")  # fmt: skip
    assert got["joiner"]["NetnsOf"] == ids["web"]
    assert got["hosty"]["Endpoints"] == got["nothing"]["Endpoints"] == []
    assert [(e["Network"], e["Ifname"]) for e in got["client"]["Endpoints"]] == [
        ("bridge", "eth0"), (scene["net"], "eth1")]  # fmt: skip
    assert ids["hosty"] in doc["Host"]["Containers"]
    assert "svc-alpha" in got["alpha"]["Endpoints"][0]["Aliases"]
    assert got["beta"]["Links"] == [{"Name": f"{P}alpha", "Alias": "al",
                                     "Network": scene["net"], "Container": ids["alpha"]}]  # fmt: skip
    assert got["client"]["Links"] == [{"Name": f"{P}web", "Alias": "www", "Network": "bridge",
                                       "Container": ids["web"]}]  # fmt: skip
    assert [(p["HostIp"], p["ContainerPort"], p["Proto"]) for p in got["web"]["Ports"]] == [
        ("0.0.0.0", 53, "udp"), ("127.0.0.1", 80, "tcp")]  # fmt: skip
    for p in got["web"]["Ports"]:
        assert {"Node": f"port:{p['HostIp']}:{p['HostPort']}/{p['Proto']}",
                "Container": ids["web"], **p} in doc["Ports"]  # fmt: skip


def test_networks_match_network_inspect_and_the_kernel(
    daemon: Daemon, scene: dict[str, Any]
) -> None:
    """N1/N5: the default bridge and the user network: name, id, subnet and gateway as
    `network inspect` shows them, the bridge device as the kernel has it (ifindex, up)."""
    nets = {n["Name"]: n for n in scene["json"]["Networks"]}
    assert {"host", "none"}.isdisjoint(nets)
    for name in ("bridge", scene["net"]):
        n = nets[name]
        status, ins = daemon.api("GET", f"/networks/{name}")
        assert status == 200
        cfg = ins["IPAM"]["Config"][0]
        assert (n["Id"], n["Driver"], n["Subnet"], n["Gateway"], n["Internal"]) == (
            ins["Id"], "bridge", cfg["Subnet"], cfg["Gateway"], False)  # fmt: skip
        assert n["Node"] == f"net:{ins['Id'][:12]}" and n["Default"] is (name == "bridge")
        assert sorted(n["Containers"]) == sorted(ins["Containers"])  # the members
        sysfs = Path("/sys/class/net") / n["Bridge"]
        assert n["Kernel"] == {"Ifindex": int((sysfs / "ifindex").read_text()), "Up": True}
    assert nets["bridge"]["Bridge"] == daemon.bridge
    assert nets[scene["net"]]["Bridge"] == "dy-" + nets[scene["net"]]["Id"][:12]


def ip_link() -> dict[int, tuple[str, int, str]]:
    """`ip -o link` on the host: ifindex -> (name, peer ifindex, master)."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    links = {}
    for line in out.splitlines():
        m = re.match(r"(\d+): ([^:@]+)(?:@if(\d+))?: .*?(?:master (\S+))?", line)
        assert m, line
        master = re.search(r" master (\S+) ", line)
        links[int(m[1])] = (m[2], int(m[3] or 0), master[1] if master else "")
    return links


def test_veth_pairs_are_the_kernels(daemon: Daemon, scene: dict[str, Any]) -> None:
    """N3: each endpoint's veth host-side name is the `ip link` entry whose index the
    container's eth0 names as its peer (iflink), that entry's peer is the container's eth0
    ifindex, and it is enslaved to the network's bridge."""
    links = ip_link()
    bridges = {n["Name"]: n["Bridge"] for n in scene["json"]["Networks"]}
    for key, c in ours(scene["json"]).items():
        for e in c["Endpoints"]:
            p = daemon.dockyard("exec", scene["ids"][key], "cat",
                                f"/sys/class/net/{e['Ifname']}/iflink",
                                f"/sys/class/net/{e['Ifname']}/ifindex")  # fmt: skip
            assert p.returncode == 0, p.stderr
            iflink, ifindex = map(int, p.stdout.split())
            name, peer, master = links[iflink]
            assert e["Veth"] == {"Name": name, "Ifindex": iflink, "PeerIfindex": ifindex,
                                 "Master": master, "Up": True}, key  # fmt: skip
            assert peer == ifindex and master == bridges[e["Network"]]


def test_svg_shows_every_container_address_port_and_edge(
    daemon: Daemon, scene: dict[str, Any]
) -> None:
    """B1: Graphviz's SVG (parsed): every container's name, every address and published port
    in its texts; nodes and edges by their `<title>`s (ids, `a->b`)."""
    status, body = daemon.api("GET", "/dockyard/network/graph?format=svg")
    assert status == 200
    root = ET.fromstring(body)
    assert root.tag == f"{SVG}svg"
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    titles = {t.text for t in root.iter(f"{SVG}title")}
    got, ids = ours(scene["json"]), scene["ids"]
    for key, c in got.items():
        assert f"{P}{key}" in texts
        assert f"ctr:{c['Id'][:12]}" in titles
        for e in c["Endpoints"]:
            assert f"{e['IPAddress']}/{e['IPPrefixLen']}" in texts
            assert e["Veth"]["Name"] in texts
        for p in c["Ports"]:
            assert f"{p['HostIp']}:{p['HostPort']}/{p['Proto']}" in texts
            assert f"{p['ContainerPort']}/{p['Proto']}" in texts
    assert "svc-alpha" in texts
    nets = {n["Name"]: n["Node"] for n in scene["json"]["Networks"]}
    user, bridge = nets[scene["net"]], nets["bridge"]
    web = ctr(ids, "web")
    expected = {
        f"{user}->{ctr(ids, 'alpha')}", f"{user}->{ctr(ids, 'beta')}",
        f"{bridge}->{web}", f"{bridge}->{ctr(ids, 'client')}", f"{user}->{ctr(ids, 'client')}",
        f"{ctr(ids, 'beta')}->{ctr(ids, 'alpha')}",  # the user-network link
        f"{ctr(ids, 'client')}->{web}",  # the legacy link
        f"{ctr(ids, 'joiner')}->{web}",  # container:web
        f"host->{ctr(ids, 'hosty')}",
        *(f"port:{p['HostIp']}:{p['HostPort']}/{p['Proto']}->{web}" for p in got["web"]["Ports"]),
    }  # fmt: skip
    assert expected <= titles
    mine = {ctr(ids, k) for k in ids}
    edges = {t for t in titles if t and "->" in t and t.split("->")[1] in mine}
    assert edges == expected  # no edge to our containers beyond these
    assert not any(t.startswith(ctr(ids, "nothing") + "->") for t in titles if t)


def test_text_dot_and_cli(daemon: Daemon, scene: dict[str, Any], tmp_path: Path) -> None:
    """B1: the text tree through the CLI, DOT when piped without --format, json as the API's,
    svg to a file with -o; a bad format is the daemon's 400."""
    got, ids = ours(scene["json"]), scene["ids"]
    p = daemon.dockyard("network", "graph", "--format", "text")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    web_ep = got["web"]["Endpoints"][0]
    veth = web_ep["Veth"]
    assert (f"  {P}web  {veth['Name']} #{veth['Ifindex']} <-> eth0 #{veth['PeerIfindex']}  "
            f"{web_ep['IPAddress']}/{web_ep['IPPrefixLen']}") in lines  # fmt: skip
    for port in got["web"]["Ports"]:
        assert (f"      port {port['HostIp']}:{port['HostPort']} -> "
                f"{port['ContainerPort']}/{port['Proto']}") in lines  # fmt: skip
    assert f"      link {P}web as www" in lines and f"      link {P}alpha as al" in lines
    net = next(n for n in scene["json"]["Networks"] if n["Name"] == scene["net"])
    assert (
        f"{net['Bridge']}  network {scene['net']}  subnet {net['Subnet']}  gateway {net['Gateway']}"
        in lines
    )
    assert f"  {P}joiner -> {P}web" in lines and f"  {P}hosty" in lines and f"  {P}nothing" in lines

    p = daemon.dockyard("network", "graph")  # not a terminal: DOT
    assert p.returncode == 0 and p.stdout.startswith("digraph network {")
    assert f'"{ctr(ids, "joiner")}" -> "{ctr(ids, "web")}"' in p.stdout

    p = daemon.dockyard("network", "graph", "--format", "json")
    cli = json.loads(p.stdout)
    assert ours(cli) == got

    out = tmp_path / "net.svg"
    p = daemon.dockyard("network", "graph", "--format", "svg", "-o", str(out))
    assert p.returncode == 0 and p.stdout == ""
    assert ET.parse(out).getroot().tag == f"{SVG}svg"

    status, body = daemon.api("GET", "/dockyard/network/graph?format=png")
    assert (status, body) == (
        400,
        {"message": "invalid format 'png': expected one of json, dot, svg, text"},
    )
    status, body = daemon.api("GET", "/v1.41/dockyard/network/graph?format=dot")
    assert status == 200 and body.startswith(b"digraph network {")


def test_text_is_the_default_on_a_terminal(daemon: Daemon, scene: dict[str, Any]) -> None:
    """B1: `dockyard network graph` with a terminal on stdout prints the text tree."""
    primary, secondary = pty.openpty()
    try:
        p = subprocess.Popen([sys.executable, "-m", "dockyard", "network", "graph"],
                             env=daemon.env(), stdout=secondary, stderr=subprocess.PIPE)  # fmt: skip
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        err = p.communicate(timeout=60)[1]
        assert p.returncode == 0, err
    finally:
        os.close(primary)
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    assert "network bridge (default bridge)" in out and f"  {P}joiner -> {P}web" in out
    assert "digraph" not in out
