"""Endpoint details as docker-py reads them (issue #16, N5): what a client configured on an
endpoint (aliases, links, driver options, IPAM config, a MAC on connect) is shown in
`NetworkSettings.Networks` before and after start, the short id joins the aliases on user
networks, and network inspect's IPAM/Containers/Options/Labels shapes -- field by field against
a real dockerd 20.10 (the oracle) on the same scenario."""

from __future__ import annotations

import contextlib
import random
import subprocess
from typing import Any

import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def _api(host: str) -> Any:
    docker_mod = pytest.importorskip("docker")
    return docker_mod.APIClient(base_url=host, version="1.41")


def _network(api: Any, name: str) -> str:
    """A user network on a random free 10.x.y.0/24 (only this daemon's networks can clash)."""
    docker_mod = pytest.importorskip("docker")
    for _ in range(20):
        subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24"
        ipam = docker_mod.types.IPAMConfig(pool_configs=[docker_mod.types.IPAMPool(subnet=subnet)])
        try:
            api.create_network(name, ipam=ipam, labels={"com.example": "x"})
            return subnet
        except docker_mod.errors.APIError as e:
            assert "overlaps" in str(e), e
    raise AssertionError("no free subnet")


def _scenario(host: str) -> dict[str, Any]:
    api = _api(host)
    tag = f"{random.randint(0, 1 << 30)}"
    net, other = f"ep{tag}", f"ep{tag}o"
    made: list[str] = []
    out: dict[str, Any] = {}
    try:
        subnet = _network(api, net)
        subnets = [subnet, _network(api, other)]
        fixed = subnet.replace(".0/24", ".9")
        up = api.create_container("busybox", ["sleep", "60"], name=f"up{tag}",
                                  host_config=api.create_host_config(network_mode=net))["Id"]  # fmt: skip
        made.append(up)
        api.start(up)
        epc = api.create_endpoint_config(aliases=["foo"], links=[(f"up{tag}", "bar")],
                                         driver_opt={"x.y": "on"},
                                         link_local_ips=["169.254.8.8"], ipv4_address=fixed)  # fmt: skip
        ctr = api.create_container(
            "busybox", ["sleep", "60"], name=f"c{tag}",
            host_config=api.create_host_config(network_mode=net),
            networking_config=api.create_networking_config({net: epc}),
        )["Id"]  # fmt: skip
        made.append(ctr)
        out["created"] = api.inspect_container(ctr)["NetworkSettings"]["Networks"]
        api.start(ctr)
        out["started"] = api.inspect_container(ctr)["NetworkSettings"]["Networks"]
        two = api.create_container("busybox", ["sleep", "60"], name=f"d{tag}",
                                   host_config=api.create_host_config(network_mode=other))["Id"]  # fmt: skip
        made.append(two)
        api.connect_container_to_network(two, net, mac_address="02:42:ac:11:00:02",
                                         aliases=["zz"])  # fmt: skip
        out["connected"] = api.inspect_container(two)["NetworkSettings"]["Networks"]
        api.start(two)
        out["connected-started"] = api.inspect_container(two)["NetworkSettings"]["Networks"]
        out["network"] = api.inspect_network(net)
        names = {c: api.inspect_container(c)["Name"].lstrip("/") for c in made}
        ids = {c[:12]: names[c] for c in made} | names
        nets = {api.inspect_network(n)["Id"]: n for n in (net, other)}
    finally:
        for c in made:
            api.remove_container(c, force=True)
        for n in (net, other):
            with contextlib.suppress(Exception):  # one may not have been made
                api.remove_network(n)
        api.close()
    return _normal(out, {**ids, **nets}, tag, subnets)


def _normal(doc: Any, ids: dict[str, str], tag: str, subnets: list[str]) -> Any:
    """Ids replaced by the names they stand for, fresh endpoint ids and times blanked, the test's
    tag, subnets and the MACs made of their addresses constant; DNSNames (an API 1.44 field
    dockerd 20.10 lacks) dropped."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if k in ("DNSNames", "Created"):
                continue
            fresh = k in ("EndpointID", "SandboxID") and v
            out[_normal(k, ids, tag, subnets)] = "<id>" if fresh else _normal(v, ids, tag, subnets)
        return out
    if isinstance(doc, list):
        return [_normal(v, ids, tag, subnets) for v in doc]
    if isinstance(doc, str):
        doc = ids.get(doc, doc).replace(tag, "T")
        for i, subnet in enumerate(subnets):
            a, b, c = (int(x) for x in subnet.split(".")[:3])
            doc = doc.replace(f"{a}.{b}.{c}.", f"NET{i}.")
            doc = doc.replace(f"02:42:{a:02x}:{b:02x}:{c:02x}:", f"MAC{i}:")
        return doc
    return doc


def test_endpoint_settings_as_dockerd(daemon: Daemon, oracle: str) -> None:
    ours = _scenario(daemon.host)
    theirs = _scenario(f"unix://{oracle}")
    # dockerd 20.10 shows a connect's MAC but gives the interface a generated one; dockyard
    # uses the MAC asked for (test_connect_with_mac_address_is_used checks the interface).
    for doc in (ours["connected-started"]["epT"], ours["network"]["Containers"]["dT"]):
        assert doc.pop("MacAddress") == "02:42:ac:11:00:02"
    theirs["connected-started"]["epT"].pop("MacAddress")
    theirs["network"]["Containers"]["dT"].pop("MacAddress")
    assert ours == theirs
    started = ours["started"]["epT"]
    assert started["Aliases"] == ["foo", "cT"]  # the short id, shown as the name it stands for
    assert started["Links"] == ["upT:bar"] and started["DriverOpts"] == {"x.y": "on"}
    assert ours["network"]["IPAM"]["Config"] == [{"Subnet": "NET0.0/24"}]


def test_connect_with_mac_address_is_used_and_links_resolve(daemon: Daemon) -> None:
    """The MAC given on connect is the interface's; an endpoint link's alias resolves through
    the embedded DNS for the linking container only, even to a target started later."""
    api = _api(daemon.host)
    tag = f"{random.randint(0, 1 << 30)}"
    net = f"mac{tag}"
    made: list[str] = []
    try:
        _network(api, net)
        c = api.create_container("busybox", ["sleep", "60"])["Id"]
        made.append(c)
        api.connect_container_to_network(c, net, mac_address="02:42:ac:11:00:42",
                                         links=[(f"up{tag}", "bar")])  # fmt: skip
        assert api.inspect_container(c)["NetworkSettings"]["Networks"][net]["MacAddress"] == (
            "02:42:ac:11:00:42"
        )
        api.start(c)
        out = subprocess.run(["docker", "exec", c, "cat", "/sys/class/net/eth1/address"],
                             env=daemon.env(), capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.stdout.strip() == "02:42:ac:11:00:42", out.stderr
        up = api.create_container("busybox", ["sleep", "60"], name=f"up{tag}",
                                  host_config=api.create_host_config(network_mode=net))["Id"]  # fmt: skip
        made.append(up)
        api.start(up)
        up_ip = api.inspect_container(up)["NetworkSettings"]["Networks"][net]["IPAddress"]
        found = api.exec_start(api.exec_create(c, ["nslookup", "bar"])).decode()
        assert f"Address: {up_ip}" in found, found
        elsewhere = api.exec_start(api.exec_create(up, ["nslookup", "bar"])).decode()
        assert up_ip not in elsewhere  # the alias is the linking container's own
    finally:
        for cid in made:
            api.remove_container(cid, force=True)
        api.remove_network(net)
        api.close()


def test_bridge_endpoint_keeps_driver_opts_and_link_local_ips(daemon: Daemon) -> None:
    """docker-py's test_create_with_driveropt / _linklocal_ips on the default bridge."""
    api = _api(daemon.host)
    epc = api.create_endpoint_config(driver_opt={"com.docker-py.setting": "on"},
                                     link_local_ips=["169.254.8.8"])  # fmt: skip
    c = api.create_container("busybox", ["sleep", "60"],
                             host_config=api.create_host_config(network_mode="bridge"),
                             networking_config=api.create_networking_config({"bridge": epc}))["Id"]  # fmt: skip
    try:
        created = api.inspect_container(c)["NetworkSettings"]["Networks"]["bridge"]
        api.start(c)
        started = api.inspect_container(c)["NetworkSettings"]["Networks"]["bridge"]
        for ep in (created, started):
            assert ep["DriverOpts"] == {"com.docker-py.setting": "on"}
            assert ep["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]}
        assert created["NetworkID"] == "" and started["NetworkID"]
    finally:
        api.remove_container(c, force=True)
        api.close()


def test_given_subnet_over_a_host_route_is_accepted(daemon: Daemon) -> None:
    """dockerd checks host routes only when it picks a pool itself: a subnet given with
    --subnet that a host interface already routes is accepted; one overlapping another network
    of this daemon is still refused in dockerd 20.10's words."""
    dummy = f"dyh{random.randint(0, 1 << 20)}a"  # a host interface (veth pair: no dummy module)
    x, y = random.randint(100, 250), random.randint(0, 255)
    subprocess.run(
        ["ip", "link", "add", dummy, "type", "veth", "peer", "name", dummy[:-1] + "b"], check=True
    )
    try:
        subprocess.run(["ip", "addr", "add", f"10.{x}.{y}.1/24", "dev", dummy], check=True)
        subprocess.run(["ip", "link", "set", dummy, "up"], check=True)
        env = daemon.env()

        def docker(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["docker", *args], env=env, capture_output=True, text=True,
                                  timeout=60)  # fmt: skip

        name = f"over{x}x{y}"
        r = docker("network", "create", "--subnet", f"10.{x}.{y}.0/24", name)
        assert r.returncode == 0, r.stderr
        try:
            r = docker("network", "create", "--subnet", f"10.{x}.{y}.128/25", name + "b")
            assert (r.returncode, r.stderr) == (
                1,
                "Error response from daemon: Pool overlaps with other one on this address space\n",
            )
        finally:
            docker("network", "rm", name)
    finally:
        subprocess.run(["ip", "link", "del", dummy], check=False)


def _ipv6_scenario(host: str, net6: str) -> dict[str, Any]:
    """docker-py's IPv6 cases: a dual-stack network (given v6 subnet, ip-range and gateway, an
    IPv4 pool picked), a container with --ip6 and one with the next free address."""
    api = _api(host)
    docker_mod = pytest.importorskip("docker")
    tag = f"{random.randint(0, 1 << 30)}"
    name = f"v6n{tag}"
    made: list[str] = []
    base = net6.split("::")[0]
    pool = docker_mod.types.IPAMPool(subnet=net6, iprange=f"{base}::/96", gateway=f"{base}::ffff")
    api.create_network(
        name, enable_ipv6=True, ipam=docker_mod.types.IPAMConfig(pool_configs=[pool])
    )
    try:
        for extra in ({"ipv6_address": f"{base}::f00d"}, {}):
            c = api.create_container(
                "busybox", ["sleep", "60"],
                host_config=api.create_host_config(network_mode=name),
                networking_config=api.create_networking_config(
                    {name: api.create_endpoint_config(**extra)}),
            )["Id"]  # fmt: skip
            made.append(c)
            api.start(c)
        doc = api.inspect_network(name)
        eps = [api.inspect_container(c)["NetworkSettings"]["Networks"][name] for c in made]
        v4 = doc["IPAM"]["Config"][0]["Subnet"]
        out = {
            "EnableIPv6": doc["EnableIPv6"],
            "Config6": doc["IPAM"]["Config"][1:],
            "v4": sorted(doc["IPAM"]["Config"][0]),
            "Containers": sorted(v["IPv6Address"] for v in doc["Containers"].values()),
            "endpoints": [{k: ep[k] for k in ("GlobalIPv6Address", "GlobalIPv6PrefixLen",
                                              "IPv6Gateway", "IPAMConfig")} for ep in eps],
        }  # fmt: skip
        assert v4 and all(ep["IPAddress"] for ep in eps)
    finally:
        for c in made:
            api.remove_container(c, force=True)
        api.remove_network(name)
        api.close()
    return json_normal(out, base)


def json_normal(doc: dict[str, Any], base: str) -> dict[str, Any]:
    import json

    return dict(json.loads(json.dumps(doc).replace(base, "PFX")))


def test_ipv6_network_as_dockerd(daemon: Daemon, oracle: str) -> None:
    """EnableIPv6, the IPv6 IPAM entry as given, the addresses handed out (--ip6, then the
    lowest of the ip-range) and the endpoint's IPv6 fields, against the oracle."""
    words = [f"{random.randint(0x1000, 0xFFFF):x}" for _ in range(3)]
    net6 = f"fd{random.randint(0, 255):02x}:{words[0]}:{words[1]}:{words[2]}::/64"
    ours = _ipv6_scenario(daemon.host, net6)
    assert ours["endpoints"][1]["GlobalIPv6Address"] == "PFX::1"
    assert ours == _ipv6_scenario(f"unix://{oracle}", net6)
