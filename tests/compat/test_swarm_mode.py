"""A one-node swarm for networks (#16, E1, N5, D-dpy6-2): `swarm init` / `leave --force` through
docker-py and both docker CLIs, docker-py's three swarm network cases (attachable, ingress,
scope), and the overlay data path on the real kernel: a bridge and a local-only VXLAN device per
overlay network, two attachable containers reaching each other, all of it gone after `leave`.
One private daemon: a swarm on the session daemon would change every other test's view."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

import docker
import pytest

from tests.clis import KNOWN, version
from tests.conftest import Daemon, private_daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

ALREADY = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and '
    "join another one."
)


@pytest.fixture(scope="module")
def swarmd() -> Iterator[Daemon]:
    with private_daemon("-sw", f"dys{os.getpid()}") as d:
        yield d


@pytest.fixture
def api(swarmd: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=swarmd.host, version="1.41", timeout=60)
    try:
        yield client
    finally:
        client.leave_swarm(force=True)  # True also when not in a swarm (a 503)
        client.close()


def _links(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines()
            if ln.split(":")[1].strip().startswith(prefix)]  # fmt: skip


def _nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_docker_py_swarm_network_cases(api: docker.APIClient) -> None:
    """docker-py's test_create_network_attachable, _ingress and _with_scope, as they call it."""
    assert api.init_swarm("127.0.0.1", listen_addr="0.0.0.0:4567")
    ingress = api.inspect_network("ingress")
    assert (ingress["Driver"], ingress["Scope"], ingress["Ingress"]) == ("overlay", "swarm", True)
    net = api.create_network("dpy6-att", driver="overlay", attachable=True)["Id"]
    assert api.inspect_network(net)["Attachable"] is True
    api.remove_network("ingress")
    ing = api.create_network("dpy6-ing", driver="overlay", ingress=True)["Id"]
    assert api.inspect_network(ing)["Ingress"] is True
    local = api.create_network("dpy6-loc", scope="local")["Id"]
    assert api.inspect_network("dpy6-loc")["Scope"] == "local"
    assert api.inspect_network("dpy6-loc", scope="local")["Id"] == local
    with pytest.raises(docker.errors.NotFound):
        api.inspect_network("dpy6-loc", scope="global")
    sw = api.create_network("dpy6-sw", driver="overlay", scope="swarm")["Id"]
    assert api.inspect_network("dpy6-sw", scope="swarm")["Id"] == sw
    with pytest.raises(docker.errors.NotFound):
        api.inspect_network("dpy6-sw", scope="local")
    assert {n["Name"] for n in api.networks(filters={"scope": "swarm"})} == {
        "dpy6-att", "dpy6-ing", "dpy6-sw"
    }  # fmt: skip
    assert api.leave_swarm(force=True) is True
    left = {n["Name"] for n in api.networks()}
    assert "dpy6-loc" in left and not left & {"dpy6-att", "dpy6-ing", "dpy6-sw", "ingress"}
    api.remove_network(local)


def test_swarm_inspect_info_nodes_and_errors(swarmd: Daemon, api: docker.APIClient) -> None:
    with pytest.raises(docker.errors.APIError) as exc:
        api.inspect_swarm()
    assert exc.value.status_code == 503
    node_id = api.init_swarm("127.0.0.1", listen_addr="127.0.0.1:4568")
    sw = api.inspect_swarm()
    assert len(sw["ID"]) == 25 and sw["CreatedAt"] and sw["Spec"]["Name"] == "default"
    assert sw["Spec"]["Raft"]["SnapshotInterval"] == 10000
    assert sw["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 5}
    assert sw["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    assert (sw["DefaultAddrPool"], sw["SubnetSize"], sw["DataPathPort"]) == (
        ["10.0.0.0/8"],
        24,
        4789,
    )
    info = api.info()["Swarm"]
    assert (info["LocalNodeState"], info["NodeID"], info["ControlAvailable"]) == (
        "active", node_id, True
    )  # fmt: skip
    assert (info["Nodes"], info["Managers"], info["NodeAddr"]) == (1, 1, "127.0.0.1")
    assert info["Cluster"]["ID"] == sw["ID"] and "JoinTokens" not in info["Cluster"]
    nodes = api.nodes()
    assert [n["ID"] for n in nodes] == [node_id]
    assert nodes[0]["ManagerStatus"] == {"Leader": True, "Reachability": "reachable",
                                         "Addr": "127.0.0.1:4568"}  # fmt: skip
    assert api.inspect_node(node_id)["Spec"]["Role"] == "manager"
    with pytest.raises(docker.errors.APIError) as exc:
        api.init_swarm("127.0.0.1", listen_addr="127.0.0.1:4569")
    assert (exc.value.status_code, exc.value.explanation) == (503, ALREADY)
    with pytest.raises(docker.errors.APIError) as exc:
        api.services()
    assert exc.value.status_code == 501 and "not implemented by dockyard: services" in str(
        exc.value.explanation
    )
    with pytest.raises(docker.errors.APIError) as exc:
        api.leave_swarm(force=False)
    assert exc.value.status_code == 503 and "--force" in str(exc.value.explanation)
    # persisted: a restarted daemon is the same swarm's manager, its networks still served
    swarmd.stop()
    swarmd.start()
    assert api.inspect_swarm()["ID"] == sw["ID"]
    assert api.info()["Swarm"]["NodeID"] == node_id
    assert api.inspect_network("ingress", scope="swarm")["Ingress"] is True
    assert api.leave_swarm(force=True) is True
    assert api.info()["Swarm"]["LocalNodeState"] == "inactive"


@pytest.mark.parametrize("cli", KNOWN)
def test_docker_cli_swarm_init_and_leave(swarmd: Daemon, api: docker.APIClient, cli: str) -> None:
    """Both docker CLIs (20.10 and a current one) drive init, overlay create, leave."""
    assert version(cli), f"{cli} must be installed"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, *args], env=swarmd.env(), capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    r = run("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:4570")
    assert r.returncode == 0, r.stderr
    node_id = api.info()["Swarm"]["NodeID"]
    assert r.stdout.startswith(f"Swarm initialized: current node ({node_id}) is now a manager.")
    assert "docker swarm join --token SWMTKN-1-" in r.stdout and "127.0.0.1:4570" in r.stdout
    r = run("swarm", "init", "--advertise-addr", "127.0.0.1")
    assert (r.returncode, r.stderr) == (1, f"Error response from daemon: {ALREADY}\n")
    r = run("network", "create", "-d", "overlay", "--attachable", "dpy6-cli")
    assert r.returncode == 0, r.stderr
    r = run("network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}} {{.Driver}}")
    assert sorted(r.stdout.splitlines()) == ["dpy6-cli overlay", "ingress overlay"]
    r = run("node", "ls", "--format", "{{.ID}} {{.ManagerStatus}}")
    assert r.stdout == f"{node_id} Leader\n"
    r = run("info")
    assert r.returncode == 0, r.stderr
    assert " Swarm: active\n" in r.stdout and "  Is Manager: true\n" in r.stdout, r.stdout
    assert f"  NodeID: {node_id}\n" in r.stdout and "  Managers: 1\n" in r.stdout
    r = run("swarm", "leave", "--force")
    assert (r.returncode, r.stdout) == (0, "Node left the swarm.\n")


def test_attachable_overlay_data_path_and_cleanup(swarmd: Daemon, api: docker.APIClient) -> None:
    """Real kernel: the overlay network is a bridge with a VXLAN device (its VNI, learning off,
    no remote); two attachable containers on it reach each other by address and by name; leave
    removes the bridges, the VXLAN devices and their nft tables."""
    api.init_swarm("127.0.0.1", listen_addr="127.0.0.1:4571")
    net = api.create_network("dpy6-data", driver="overlay", attachable=True)["Id"]
    doc = api.inspect_network(net)
    vni = doc["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
    bridge, vxlan = f"dyo-{net[:11]}", f"dyx-{net[:11]}"
    details = subprocess.run(["ip", "-d", "link", "show", vxlan], capture_output=True,
                             text=True).stdout  # fmt: skip
    assert f"vxlan id {vni} " in details and "nolearning" in details and "remote" not in details
    assert f"master {bridge}" in details
    made = []
    try:
        for name in ("dpy6-a", "dpy6-b"):
            cid = api.create_container(
                "busybox",
                "sleep 60",
                name=name,
                host_config=api.create_host_config(network_mode=net),
            )
            made.append(cid["Id"])
            api.start(cid)
        ip_b = api.inspect_container("dpy6-b")["NetworkSettings"]["Networks"]["dpy6-data"][
            "IPAddress"
        ]
        assert IPv4Address(ip_b) in IPv4Network(doc["IPAM"]["Config"][0]["Subnet"])
        for target in (ip_b, "dpy6-b"):
            ex = api.exec_create("dpy6-a", ["ping", "-c", "1", "-W", "5", target])
            out = api.exec_start(ex)
            assert api.exec_inspect(ex)["ExitCode"] == 0, out
        ingress = api.inspect_network("ingress")["Id"]
        cid = api.create_container("busybox", "true", host_config=api.create_host_config(
            network_mode="ingress"))["Id"]  # fmt: skip
        made.append(cid)
        with pytest.raises(docker.errors.APIError) as exc:
            api.start(cid)  # not attachable: refused as dockerd refuses it
        assert exc.value.status_code == 403
        assert "network ingress not manually attachable" in str(exc.value.explanation)
        assert _links(f"dyo-{ingress[:11]}") and _links(f"dyx-{ingress[:11]}")
        # leave with dpy6-a and dpy6-b still on the network: they are disconnected, run on
        assert api.leave_swarm(force=True) is True
        b = api.inspect_container("dpy6-b")
        assert b["State"]["Running"] and "dpy6-data" not in b["NetworkSettings"]["Networks"]
        for nid in (net, ingress):
            assert not _links(f"dyo-{nid[:11]}") and not _links(f"dyx-{nid[:11]}")
            assert f"dockyard-dyo-{nid[:11]}" not in _nft_tables()
    finally:
        for cid in made:
            api.remove_container(cid, force=True)


def test_dockyard_cli_swarm_init_and_leave(swarmd: Daemon, api: docker.APIClient) -> None:
    """`dockyard swarm init|leave` print what the docker CLI prints."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["dockyard", *args], env=swarmd.env(), capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    r = run("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:4572")
    assert r.returncode == 0, r.stderr
    node_id = api.info()["Swarm"]["NodeID"]
    token = api.inspect_swarm()["JoinTokens"]["Worker"]
    assert r.stdout.startswith(
        f"Swarm initialized: current node ({node_id}) is now a manager.\n\nTo add a worker to "
        f"this swarm, run the following command:\n\n    docker swarm join --token {token} "
        "127.0.0.1:4572\n\n"
    )
    r = run("swarm", "leave")
    assert r.returncode == 1 and "Use `--force`" in r.stderr
    r = run("swarm", "leave", "--force")
    assert (r.returncode, r.stdout) == (0, "Node left the swarm.\n")
    assert api.info()["Swarm"]["LocalNodeState"] == "inactive"
