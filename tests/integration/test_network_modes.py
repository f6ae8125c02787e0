"""Network modes (N4) and legacy links (N2) on a real kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.network_helpers import HTTPD, inspect, nc_get, rm, run, sh, veths_on

pytestmark = pytest.mark.integration


def test_none_has_only_loopback(daemon: Daemon) -> None:
    """N4: --network none: lo only, up; no veth; Networks.none in inspect."""
    cid = run(daemon, "--network", "none", "busybox", "sleep", "60")
    try:
        out = daemon.dockyard("exec", cid, "ip", "-o", "link").stdout.splitlines()
        assert len(out) == 1 and ": lo:" in out[0] and "UP" in out[0]
        ns = inspect(daemon, cid)["NetworkSettings"]
        assert list(ns["Networks"]) == ["none"] and ns["IPAddress"] == ""
        assert veths_on(daemon.bridge) == []
    finally:
        rm(daemon, cid)
    assert not (daemon.exec_root / "netns" / cid[:12]).exists()


def test_host_shares_the_host_namespace(daemon: Daemon) -> None:
    """N4: --network host: the host's netns, hostname and interfaces."""
    p = sh(
        daemon, "--network", "host", "busybox", "sh", "-c", "readlink /proc/self/ns/net; hostname"
    )
    assert p.returncode == 0, p.stderr
    ns_link, hostname = p.stdout.split()
    assert ns_link == os.readlink("/proc/self/ns/net")
    assert hostname == os.uname().nodename


def test_container_mode_shares_the_namespace(daemon: Daemon) -> None:
    """N4: container:NAME joins NAME's netns (same IP, reaches its server on localhost);
    errors when NAME is not running; stopping NAME leaves the joiner with lo only."""
    web = run(daemon, "--name", "net-owner", "busybox", "sh", "-c", HTTPD)
    try:
        ip = inspect(daemon, web)["NetworkSettings"]["IPAddress"]
        joiner = run(daemon, "--network", "container:net-owner", "busybox", "sleep", "60")
        out = daemon.dockyard("exec", joiner, "ip", "-o", "-4", "addr", "show", "eth0").stdout
        assert ip in out
        got = daemon.dockyard("exec", joiner, "sh", "-c", nc_get("127.0.0.1", 80)).stdout.strip()
        assert got == f"hello-{web[:12]}"
        assert inspect(daemon, joiner)["HostConfig"]["NetworkMode"] == "container:net-owner"
        assert daemon.api("POST", f"/containers/{web}/stop?t=1")[0] == 204
        out = daemon.dockyard("exec", joiner, "ip", "-o", "link").stdout
        assert "eth0" not in out
        rm(daemon, joiner)
        p = daemon.dockyard("run", "-d", "--network", "container:net-owner", "busybox", "true")
        assert p.returncode != 0
        assert f"cannot join network of a non running container: {web}" in p.stderr
    finally:
        _, ctrs = daemon.api("GET", "/containers/json?all=1")
        rm(daemon, *[c["Id"] for c in ctrs])


def test_container_mode_shares_files_and_hostname(daemon: Daemon) -> None:
    """N4/N6: a container:NAME joiner uses NAME's /etc/hosts, /etc/hostname, /etc/resolv.conf
    (inspect shows NAME's paths) and NAME's hostname; dns, add-host and -P conflict (400)."""
    owner = run(daemon, "--name", "files-owner", "--hostname", "ownerhost",
                "--add-host", "extra.example:10.9.8.7", "busybox", "sleep", "60")  # fmt: skip
    try:
        joiner = run(daemon, "--network", "container:files-owner", "busybox", "sleep", "60")
        o, j = inspect(daemon, owner), inspect(daemon, joiner)
        for key in ("HostnamePath", "HostsPath", "ResolvConfPath"):
            assert j[key] == o[key] and o[key]
        assert j["Config"]["Hostname"] == "ownerhost"
        out = daemon.dockyard("exec", joiner, "sh", "-c",
                              "hostname; cat /etc/hostname; echo $HOSTNAME; cat /etc/hosts")  # fmt: skip
        lines = out.stdout.splitlines()
        assert lines[:3] == ["ownerhost"] * 3, out
        assert "10.9.8.7\textra.example" in lines
        assert any(ln.endswith("\townerhost") for ln in lines), out
        for hc, message in [
            ({"Dns": ["1.1.1.1"]}, "conflicting options: dns and the network mode"),
            ({"ExtraHosts": ["a:1.2.3.4"]},
             "conflicting options: custom host-to-IP mapping and the network mode"),
            ({"PublishAllPorts": True},
             "conflicting options: port publishing and the container type network mode"),
        ]:  # fmt: skip
            body = {
                "Image": "busybox",
                "HostConfig": {"NetworkMode": "container:files-owner", **hc},
            }
            status, resp = daemon.api("POST", "/containers/create", body)
            assert (status, resp["message"]) == (400, message)
        p = daemon.dockyard("run", "--rm", "--network", "container:files-owner", "--hostname",
                            "x", "busybox", "true")  # fmt: skip
        assert p.returncode == 125
        assert "conflicting options: hostname and the network mode" in p.stderr
    finally:
        _, ctrs = daemon.api("GET", "/containers/json?all=1")
        rm(daemon, *[c["Id"] for c in ctrs])


def test_unknown_network_and_container_fail_at_start(daemon: Daemon) -> None:
    """N4: as dockerd: create accepts an unknown network or container (a 404 there would make
    the docker CLI pull the image); start fails with 404 and leaves nothing."""
    for mode, message in [("bogus", "network bogus not found"),
                          ("container:nosuch", "No such container: nosuch")]:  # fmt: skip
        status, out = daemon.api("POST", "/containers/create",
                                 {"Image": "busybox", "HostConfig": {"NetworkMode": mode}})  # fmt: skip
        assert status == 201, out
        cid = out["Id"]
        try:
            status, out = daemon.api("POST", f"/containers/{cid}/start")
            assert status == 404 and out["message"] == message
            assert inspect(daemon, cid)["State"]["Status"] == "created"
            assert veths_on(daemon.bridge) == []
            assert not (daemon.exec_root / "netns" / cid[:12]).exists()
        finally:
            rm(daemon, cid)
    p = daemon.dockyard("run", "--rm", "--network", "bogus", "busybox", "true")
    assert p.returncode == 125 and "network bogus not found" in p.stderr
    status, out = daemon.api("POST", "/containers/create?name=net-self",
                             {"Image": "busybox", "HostConfig": {"NetworkMode": "container:net-self"}})  # fmt: skip
    assert status == 201
    try:
        status, out = daemon.api("POST", "/containers/net-self/start")
        assert status == 400 and out["message"] == "cannot join own network"
    finally:
        rm(daemon, "net-self")


def test_links_hosts_env_and_errors(daemon: Daemon) -> None:
    """N2: --link name:alias puts alias, hostname and name in /etc/hosts and sets Docker's link
    variables; a stopped target fails the start; host mode refuses links."""
    web = run(
        daemon,
        "--name",
        "net-linked",
        "-e",
        "SECRET=s3",
        "--expose",
        "80",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    )
    try:
        ip = inspect(daemon, web)["NetworkSettings"]["IPAddress"]
        p = sh(daemon, "--name", "net-linker", "--link", "net-linked:db", "busybox", "sh", "-c",
               f"env | sort | grep ^DB_; grep db /etc/hosts; {nc_get('db', 80)}")  # fmt: skip
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert f"DB_PORT=tcp://{ip}:80" in lines
        assert f"DB_PORT_80_TCP_ADDR={ip}" in lines
        assert "DB_PORT_80_TCP_PORT=80" in lines and "DB_PORT_80_TCP_PROTO=tcp" in lines
        assert "DB_NAME=/net-linker/db" in lines and "DB_ENV_SECRET=s3" in lines
        assert f"{ip}\tdb {web[:12]} net-linked" in lines
        assert lines[-1] == f"hello-{web[:12]}"
        p = sh(daemon, "--network", "host", "--link", "net-linked:db", "busybox", "true")
        assert p.returncode != 0 and "can't be used with links" in p.stderr
        assert daemon.api("POST", f"/containers/{web}/stop?t=1")[0] == 204
        p = daemon.dockyard("run", "-d", "--link", "net-linked:db", "busybox", "true")
        assert p.returncode != 0
        assert "Cannot link to a non running container: /net-linked AS" in p.stderr
        assert len(veths_on(daemon.bridge)) == 0
    finally:
        _, ctrs = daemon.api("GET", "/containers/json?all=1")
        rm(daemon, *[c["Id"] for c in ctrs])


def test_network_ls_and_inspect(daemon: Daemon) -> None:
    """N3/N4: `network ls` shows bridge, host and none; inspect by name and id prefix."""
    out = daemon.dockyard("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout
    assert out.splitlines() == ["bridge bridge local", "host host local", "none null local"]
    status, nets = daemon.api("GET", "/networks")
    assert status == 200 and {n["Name"] for n in nets} == {"bridge", "host", "none"}
    bridge = next(n for n in nets if n["Name"] == "bridge")
    status, same = daemon.api("GET", f"/networks/{bridge['Id'][:6]}")
    assert status == 200 and same["Name"] == "bridge"
    assert daemon.api("GET", "/networks/nosuch")[0] == 404
    p = daemon.dockyard("network", "inspect", "--format", "{{.Driver}}", "none")
    assert p.stdout.strip() == "null"
    assert Path(f"/sys/class/net/{daemon.bridge}").exists()
