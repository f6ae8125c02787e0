"""`docker events`, `dockyard events` and docker-py's `events()` against dockyard (#15 item 6,
E6): one recorded window of operations, read back with --since/--until replay, filters and
--format."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.compat.cli import docker, ok
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@dataclass(frozen=True)
class Window:
    since: str
    until: str
    cid: str
    net_id: str


@pytest.fixture(scope="module")
def window(daemon: Daemon) -> Iterator[Window]:
    """A volume and a network made, a labelled container run on both with --rm, both removed."""
    since = time.time()
    ok(docker(daemon, "volume", "create", "evc-vol"))
    net_id = ok(docker(daemon, "network", "create", "evc-net")).strip()
    r = docker(daemon, "run", "--name", "evc-run", "-l", "tier=db", "--network", "evc-net",
               "-v", "evc-vol:/data", "busybox", "sh", "-c", "exit 4")  # fmt: skip
    assert r.returncode == 4, r.stderr
    cid = ok(docker(daemon, "inspect", "-f", "{{.Id}}", "evc-run")).strip()
    ok(docker(daemon, "rm", "evc-run"))
    ok(docker(daemon, "network", "rm", "evc-net"))
    ok(docker(daemon, "volume", "rm", "evc-vol"))
    time.sleep(0.2)
    until = time.time()
    yield Window(f"{since:.6f}", f"{until:.6f}", cid, net_id)


def _events(daemon: Daemon, w: Window, *args: str, cli: str = "docker") -> str:
    argv = ("events", "--since", w.since, "--until", w.until, *args)
    r = docker(daemon, *argv) if cli == "docker" else daemon.dockyard(*argv)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_container_filter_and_format(daemon: Daemon, window: Window) -> None:
    """E6: `--filter container=NAME` gives the container's own events, in dockerd's order, and
    `--format` renders them; the stream ends at --until."""
    out = _events(daemon, window, "--filter", "container=evc-run",
                  "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.exitCode}}")  # fmt: skip
    assert out.splitlines() == [
        "container create <no value>",
        "container attach <no value>",
        "container start <no value>",
        "container die 4",
        "container destroy <no value>",
    ]


def test_network_and_volume_events(daemon: Daemon, window: Window) -> None:
    """E6: network create/connect/disconnect/destroy with name, type and the container; volume
    create (by `volume create` and again by the container's create), mount, unmount, destroy."""
    fmt = "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}} " \
          "{{.Actor.Attributes.container}}"  # fmt: skip
    net = _events(daemon, window, "--filter", "type=network", "--filter", "network=evc-net",
                  "--format", fmt)  # fmt: skip
    nid, cid = window.net_id, window.cid
    assert net.splitlines() == [
        f"create {nid} evc-net bridge <no value>",
        f"connect {nid} evc-net bridge {cid}",
        f"disconnect {nid} evc-net bridge {cid}",
        f"destroy {nid} evc-net bridge <no value>",
    ]
    vol = _events(daemon, window, "--filter", "volume=evc-vol", "--format",
                  "{{.Type}} {{.Action}} {{json .Actor.Attributes}}")  # fmt: skip
    mount = {"container": cid, "destination": "/data", "driver": "local", "propagation": "",
             "read/write": "true"}  # fmt: skip
    assert vol.splitlines() == [
        'volume create {"driver":"local"}',
        'volume create {"driver":"local"}',
        f"volume mount {json.dumps(mount, separators=(',', ':'), sort_keys=True)}",
        f'volume unmount {{"container":"{cid}","driver":"local"}}',
        'volume destroy {"driver":"local"}',
    ]


def test_label_event_and_type_filters(daemon: Daemon, window: Window) -> None:
    """E6: labels are merged into container attributes (`label=` matches them, every label value
    must match), `event=` picks actions, several `type=` values are alternatives."""
    by_label = _events(daemon, window, "--filter", "label=tier=db", "--format", "{{.Action}}")
    assert by_label.split() == ["create", "attach", "start", "die", "destroy"]
    both = _events(daemon, window, "--filter", "label=tier=db", "--filter", "label=other",
                   "--format", "{{.Action}}")  # fmt: skip
    assert both == ""
    picked = _events(daemon, window, "--filter", "event=destroy", "--filter", "type=volume",
                     "--filter", "type=network", "--format", "{{.Type}} {{.Actor.ID}}")  # fmt: skip
    assert picked.splitlines() == [f"network {window.net_id}", "volume evc-vol"]


def test_default_line_and_dockyard_cli(daemon: Daemon, window: Window) -> None:
    """E6: the docker CLI's default line (RFC 3339 nano time, type, action, actor, sorted
    attributes); `dockyard events` prints the same lines, default and --format."""
    lines = _events(daemon, window, "--filter", "container=evc-run").splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)"
    want = rf"^{stamp} container die {window.cid} \(exitCode=4, image=busybox, name=evc-run, tier=db\)$"
    assert any(re.match(want, line) for line in lines), lines
    for args in ((), ("--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Status}} {{.From}}"),
                 ("--filter", "type=volume", "--format", "{{json .}}")):  # fmt: skip
        assert _events(daemon, window, *args, cli="dockyard") == _events(daemon, window, *args)


def test_since_after_until_is_refused(daemon: Daemon) -> None:
    """E6: dockerd's 400 in its words; nothing is streamed."""
    r = docker(daemon, "events", "--since", "1700000100", "--until", "1700000000")
    assert r.returncode == 1 and r.stdout == ""
    assert re.fullmatch(
        r"Error response from daemon: `since` time \(1700000100[.0]*\) cannot be after "
        r"`until` time \(1700000000[.0]*\)",
        r.stderr.strip(),
    ), r.stderr
    mine = daemon.dockyard("events", "--since", "1700000100", "--until", "1700000000")
    assert mine.returncode == 1 and mine.stderr.strip() == r.stderr.strip()


def test_docker_py_events(daemon: Daemon, window: Window) -> None:
    """E6: docker-py's `events(decode=True, since=, until=, filters=)` ends at `until` and reads
    the legacy status/id/from fields beside Type/Action/Actor/scope/time/timeNano."""
    import docker as dockerpy

    client = dockerpy.DockerClient(base_url=daemon.host)
    try:
        since, until = float(window.since), float(window.until)
        got = list(client.api.events(decode=True, since=since, until=until,
                                     filters={"container": "evc-run", "event": ["start", "die"]}))  # fmt: skip
        assert [(e["status"], e["id"], e["from"]) for e in got] == [
            ("start", window.cid, "busybox"), ("die", window.cid, "busybox")]  # fmt: skip
        assert got[1]["Actor"]["Attributes"]["exitCode"] == "4"
        assert all(e["scope"] == "local" and e["time"] == e["timeNano"] // 10**9 for e in got)
        vols = list(client.events(decode=True, since=since, until=until,
                                  filters={"type": "volume", "volume": "evc-vol"}))  # fmt: skip
        assert [e["Action"] for e in vols] == ["create", "create", "mount", "unmount", "destroy"]
        assert all("status" not in e for e in vols)
    finally:
        client.close()
