"""R1 (#17 item 2): crash safety as a tested property. For every named crash point
(dockyard/crashpoints.py POINTS) a private daemon is restarted with DOCKYARD_CRASH_AT naming it,
the operation that passes the point is driven until the daemon kills itself there (as kill -9
would), and the daemon is started again without the setting. Then:
  - what the operation made is whole or absent (no truncated file, no half-populated volume,
    no bridge or veth its records do not know),
  - every container's recorded state is runc's and the freezer's (nothing left frozen),
  - `system check` finds nothing, except the layers a killed pull or commit keeps for a retry
    (KEPT_LAYERS), which `--repair` reclaims; it is clean after that,
  - nothing is left in the temp dir, and once the test's own objects are removed the store
    holds exactly what it held before (layer dirs, blobs, volume dirs) with no mount, veth,
    netns or cgroup left.
One daemon serves the whole matrix: each point costs two restarts and its operation."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.crashpoints import ENV, POINTS
from dockyard.storage.check import UNREFERENCED
from tests.conftest import Daemon, _links_on, _mounts_under, private_daemon
from tests.registry import Registry, registry

pytestmark = pytest.mark.integration

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"
BIG = 8  # MiB written into a container before a commit: the diff takes a moment
# Where a restart finds a layer no image holds, by design: a pull's finished layers stay for a
# retry to reuse ("Already exists"), as a commit's registered layer does for the same diff;
# `image prune` and `system check --repair` reclaim them. Anywhere else a finding fails.
KEPT_LAYERS = {"commit.after-layer", "pull.after-layer", "pull.before-image"}


@dataclass
class World:
    d: Daemon
    reg: Registry
    bridge: str  # the user network's bridge device (named, so other daemons' never confuse us)
    base_layers: set[str]
    base_blobs: set[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("crash")
    with registry(base / "reg") as reg, private_daemon("-cm", f"dyc{os.getpid()}") as d:
        yield World(d, reg, f"dycn{os.getpid() % 100000}", _layer_dirs(d), _blobs(d))


def _layer_dirs(d: Daemon) -> set[str]:
    return {p.name for p in (d.data_root / "overlay2").iterdir() if p.name not in ("l", ".trash")}


def _blobs(d: Daemon) -> set[str]:
    return {p.name for p in (d.data_root / "content" / "sha256").iterdir()}


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r.stdout.strip()


def _run_bg(d: Daemon, name: str, *args: str) -> str:
    return _ok(d.dockyard("run", "-d", "--name", name, *args))


def _crash(w: World, point: str, op: Callable[[], object]) -> None:
    """Restart armed, drive `op` until the daemon dies at `point`, restart unarmed."""
    d = w.d
    d.stop()
    d.extra_env = {ENV: point}
    d.start()
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            op()
        except BaseException as e:  # noqa: BLE001 - the daemon dies under it
            errors.append(e)

    t = threading.Thread(target=drive, daemon=True)
    t.start()
    assert d.proc is not None
    try:
        d.proc.wait(90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the daemon never reached {point} (op errors: {errors})")
    assert d.proc.returncode == -9, f"{point}: daemon exited {d.proc.returncode}"
    t.join(30)
    d.extra_env = {}
    d.start()


def _report(d: Daemon, repair: bool = False) -> dict[str, object]:
    status, body = d.api("POST", f"/dockyard/system/check?repair={int(repair)}")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def _runc_states(d: Daemon) -> dict[str, str]:
    out = subprocess.run(["runc", "--root", str(d.exec_root / "runc"), "list", "-f", "json"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return {c["id"]: c["status"] for c in json.loads(out.stdout or "[]") or []}


def _invariants(w: World, point: str) -> list[dict[str, object]]:
    """What must hold right after the restart; returns the findings --repair fixed."""
    d = w.d
    assert list((d.data_root / "tmp").iterdir()) == [], point
    status, ctrs = d.api("GET", "/containers/json?all=1")
    assert status == 200
    runc = _runc_states(d)
    for c in ctrs:  # type: ignore[union-attr]
        state, cid = c["State"], c["Id"]
        assert not d.cgroups.frozen(cid) or state == "paused", (point, c["Names"])
        if state in ("running", "paused"):
            assert runc.get(cid) == state, (point, c["Names"], state, runc.get(cid))
        else:
            assert runc.get(cid) is None, (point, c["Names"], state, runc.get(cid))
    body = _report(d)
    findings = body["Findings"]
    assert isinstance(findings, list)
    assert all(f["Repairable"] for f in findings), (point, findings)
    allowed = {("layer", UNREFERENCED)} if point in KEPT_LAYERS else set()
    assert {(f["Kind"], f["Problem"]) for f in findings} <= allowed, (point, findings)
    if findings:
        fixed = _report(d, repair=True)
        assert fixed["Errors"] is False, (point, fixed)
        assert _report(d) == {"Errors": False, "Findings": []}, point
    return findings


def _remove_objects(d: Daemon) -> list[tuple[str, int]]:
    """Remove every container, image but busybox, volume and user network; the statuses of
    the removals that must succeed (images may go with their children already)."""
    statuses = []
    _, ctrs = d.api("GET", "/containers/json?all=1")
    for c in ctrs:  # type: ignore[union-attr]
        statuses.append((c["Id"], d.api("DELETE", f"/containers/{c['Id']}?force=1&v=1")[0]))
    _, images = d.api("GET", "/images/json?all=1")
    for img in images:  # type: ignore[union-attr]
        if "busybox:latest" not in (img["RepoTags"] or []):
            d.api("DELETE", f"/images/{img['Id']}?force=1")
    _, vols = d.api("GET", "/volumes")
    for v in vols["Volumes"] or []:  # type: ignore[index]
        statuses.append((v["Name"], d.api("DELETE", f"/volumes/{v['Name']}")[0]))
    _, nets = d.api("GET", "/networks")
    for n in nets:  # type: ignore[union-attr]
        if n["Name"] not in ("bridge", "host", "none"):
            statuses.append((n["Name"], d.api("DELETE", f"/networks/{n['Id']}")[0]))
    return statuses


def _wipe(w: World) -> None:
    """Best effort, after a failed point: the next one starts from a clean daemon."""
    d = w.d
    with contextlib.suppress(Exception):
        if d.proc is None or d.proc.poll() is not None:
            d.extra_env = {}
            d.start()
        _remove_objects(d)
        d.api("POST", "/dockyard/system/check?repair=1&quick=1")
    subprocess.run(["ip", "link", "del", w.bridge], capture_output=True, check=False)
    for family in ("ip", "netdev"):
        subprocess.run(["nft", "delete", "table", family, f"dockyard-{w.bridge}"],
                       capture_output=True, check=False)  # fmt: skip


def _clean(w: World, point: str) -> None:
    """Remove what the point's test made; the store must be back to its start."""
    d = w.d
    failed = [(what, status) for what, status in _remove_objects(d) if status != 204]
    assert failed == [], (point, failed)
    assert d.api("POST", "/images/prune")[0] == 200
    assert _layer_dirs(d) == w.base_layers, point
    assert _blobs(d) == w.base_blobs, point
    assert [p.name for p in (d.data_root / "volumes").iterdir()
            if not p.name.startswith(".spare-")] == [], point  # fmt: skip
    # only the tree the running daemon holds as a mount of its own (D-scale-4)
    assert _mounts_under(d.data_root) == [str(d.data_root / "overlay2")], point
    assert _links_on(d.bridge) == [], point
    assert not _link_exists(w.bridge), point
    assert not _table_exists(f"dockyard-{w.bridge}"), point
    netns = d.exec_root / "netns"
    assert not netns.exists() or list(netns.iterdir()) == [], point
    assert _cgroups_left(d) == [], point
    assert _container_rules(d) == [], point
    assert _report(d) == {"Errors": False, "Findings": []}, point


def _table_exists(name: str) -> bool:
    r = subprocess.run(["nft", "list", "table", "ip", name], capture_output=True, check=False)
    return r.returncode == 0


def _link_exists(dev: str) -> bool:
    return subprocess.run(["ip", "link", "show", dev], capture_output=True).returncode == 0


def _container_rules(d: Daemon) -> list[str]:
    """nft rules and map elements of containers (commented with their short ids) in the
    daemon's tables; the bridge's own carry its name."""
    out = []
    for family in ("ip", "netdev"):
        r = subprocess.run(["nft", "list", "table", family, f"dockyard-{d.bridge}"],
                           capture_output=True, text=True, check=False)  # fmt: skip
        out += re.findall(r"dockyard:[0-9a-f]{12}\b", r.stdout)
    return out


def _cgroups_left(d: Daemon) -> list[str]:
    return [str(p) for base in d.cgroups.parent_dirs() if base.exists()
            for p in base.iterdir() if p.is_dir()]  # fmt: skip


# ---- the operations --------------------------------------------------------------------------


def _create(w: World) -> None:
    body = {"Image": "busybox", "Cmd": ["sleep", "300"], "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1"}]}}}  # fmt: skip
    status, _ = w.d.api("POST", "/containers/create?name=cm-ctr", body)
    assert status == 201


def _start(w: World) -> None:
    _create(w)
    w.d.api("POST", "/containers/cm-ctr/start")


def _commit_setup(w: World) -> None:
    _run_bg(w.d, "cm-src", "busybox", "sh", "-c",
            f"dd if=/dev/urandom of=/big bs=1M count={BIG} 2>/dev/null; sleep 300")  # fmt: skip
    time.sleep(0.5)


def _commit(w: World) -> None:
    w.d.api("POST", "/commit?container=cm-src&repo=cm-img&tag=1")


def _build(w: World) -> None:
    ctx = w.d.root / "cm-ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS first\nRUN echo a > /a\nRUN dd if=/dev/zero of=/b bs=1M count=2\n"
        "FROM busybox\nCOPY --from=first /a /from-first\nCOPY f /f\nRUN echo c > /c\n"
    )
    (ctx / "f").write_bytes(b"f" * 4096)
    w.d.dockyard("build", "-t", "cm-build", str(ctx), timeout=90)


def _push_setup(w: World) -> None:
    _ok(w.d.dockyard("tag", "busybox", f"{w.reg.host}/cm-push:1"))


def _push(w: World) -> None:
    w.d.dockyard("push", f"{w.reg.host}/cm-push:1", timeout=90)


def _pull_setup(w: World) -> None:
    _ok(w.d.dockyard("run", "--name", "cm-layer", "busybox", "sh", "-c", "echo x > /x"))
    _ok(w.d.dockyard("commit", "cm-layer", f"{w.reg.host}/cm-pull:1"))
    _ok(w.d.dockyard("push", f"{w.reg.host}/cm-pull:1"))
    _ok(w.d.dockyard("rm", "cm-layer"))
    _ok(w.d.dockyard("rmi", f"{w.reg.host}/cm-pull:1"))


def _pull(w: World) -> None:
    w.d.dockyard("pull", f"{w.reg.host}/cm-pull:1", timeout=90)


def _rmi_setup(w: World) -> None:
    _pull_setup(w)
    _ok(w.d.dockyard("pull", f"{w.reg.host}/cm-pull:1", timeout=90))


def _rmi(w: World) -> None:
    w.d.dockyard("rmi", f"{w.reg.host}/cm-pull:1")


def _cp_setup(w: World) -> None:
    _run_bg(w.d, "cm-cp", "busybox", "sleep", "300")
    (w.d.root / "cm-file").write_bytes(os.urandom(1 << 20))


def _cp(w: World) -> None:
    w.d.dockyard("cp", str(w.d.root / "cm-file"), "cm-cp:/tmp/cm-file")


def _volume_create(w: World) -> None:
    w.d.api("POST", "/volumes/create", {"Name": "cm-vol"})


def _volume_populate(w: World) -> None:
    w.d.dockyard("run", "-d", "--name", "cm-pop", "-v", "cm-pop:/etc", "busybox", "sleep", "300")


def _network_create(w: World) -> None:
    w.d.api("POST", "/networks/create", {
        "Name": "cm-net", "Options": {"com.docker.network.bridge.name": w.bridge}})  # fmt: skip


def _connect_setup(w: World) -> None:
    _network_create(w)
    _run_bg(w.d, "cm-conn", "busybox", "sleep", "300")


def _connect(w: World) -> None:
    w.d.api("POST", "/networks/cm-net/connect", {"Container": "cm-conn"})


Op = tuple[Callable[[World], None] | None, Callable[[World], None]]
OPS: dict[str, Op] = {
    "create": (None, _create),
    "start": (None, _start),
    "commit": (_commit_setup, _commit),
    "build": (None, _build),
    "pull": (_pull_setup, _pull),
    "layer.after-extract": (_pull_setup, _pull),
    "push": (_push_setup, _push),
    "rmi": (_rmi_setup, _rmi),
    "cp": (_cp_setup, _cp),
    "volume.after-create": (None, _volume_create),
    "volume.mid-populate": (None, _volume_populate),
    "network.after-bridge": (None, _network_create),
    "network.after-endpoint": (_connect_setup, _connect),
}


def _op_for(point: str) -> Op:
    return OPS.get(point) or OPS[point.split(".")[0]]


# ---- what each operation leaves must be whole or absent ------------------------------------


def _after(w: World, point: str) -> None:
    d = w.d
    if point.startswith("commit"):
        # the source was running and must run on, unfrozen; a retried commit works
        assert d.api("GET", "/containers/cm-src/json")[1]["State"]["Status"] == "running"
        assert not d.cgroups.frozen(d.api("GET", "/containers/cm-src/json")[1]["Id"])
        _ok(d.dockyard("commit", "cm-src", "cm-img:2"))
        r = d.dockyard("run", "--rm", "cm-img:2", "sh", "-c", "wc -c < /big")
        assert _ok(r) == str(BIG << 20)
    elif point.startswith("build"):
        _build(w)  # the retried build finishes and reclaims as the first one should have
        r = d.dockyard("run", "--rm", "cm-build", "sh", "-c", "cat /from-first /c; wc -c < /f")
        assert _ok(r) == "a\nc\n4096"
    elif point.startswith(("pull", "layer")):
        _ok(d.dockyard("pull", f"{w.reg.host}/cm-pull:1", timeout=90))
        assert _ok(d.dockyard("run", "--rm", f"{w.reg.host}/cm-pull:1", "cat", "/x")) == "x"
    elif point.startswith("rmi"):
        # the record went before the kill: the image is gone, and pulled again it runs
        assert d.api("GET", f"/images/{w.reg.host}/cm-pull:1/json")[0] == 404
        _ok(d.dockyard("pull", f"{w.reg.host}/cm-pull:1", timeout=90))
        assert _ok(d.dockyard("run", "--rm", f"{w.reg.host}/cm-pull:1", "cat", "/x")) == "x"
    elif point.startswith("push"):
        _ok(d.dockyard("push", f"{w.reg.host}/cm-push:1", timeout=90))
    elif point.startswith("cp"):
        r = d.dockyard("exec", "cm-cp", "sh", "-c", "cat /tmp/cm-file 2>/dev/null | wc -c")
        assert _ok(r) in ("0", str(1 << 20)), "a truncated file under its real name"
        r = d.dockyard("exec", "cm-cp", "sh", "-c", "ls -a /tmp")
        assert ".dockyard-cp-" not in r.stdout, r.stdout
        cid = d.api("GET", "/containers/cm-cp/json")[1]["Id"]
        pending = d.data_root / "containers" / cid / "cp-pending"
        assert not pending.exists() or list(pending.iterdir()) == [], "a marker was not swept"
        _cp(w)
        assert _ok(d.dockyard("exec", "cm-cp", "sh", "-c", "wc -c < /tmp/cm-file")) == str(1 << 20)
        assert list(pending.iterdir()) == [], "a finished copy left its marker"
    elif point.startswith("volume"):
        dirs = sorted(p.name for p in (d.data_root / "volumes").iterdir()
                      if not p.name.startswith("."))  # fmt: skip
        vols = sorted(v["Name"] for v in d.api("GET", "/volumes")[1]["Volumes"] or [])
        assert dirs == vols, (dirs, vols)
        assert not [p for p in (d.data_root / "volumes").iterdir()
                    if p.name.startswith(".populate-")]  # fmt: skip
        if point == "volume.mid-populate":
            _ok(d.dockyard("rm", "-f", "cm-pop")) if d.api(
                "GET", "/containers/cm-pop/json")[0] == 200 else None  # fmt: skip
            r = d.dockyard("run", "--rm", "-v", "cm-pop:/etc", "busybox", "ls", "/etc")
            assert "passwd" in _ok(r), "the volume is stuck half-populated"
    elif point == "network.after-bridge":
        listed = d.api("GET", "/networks/cm-net")[0] == 200
        assert _link_exists(w.bridge) == listed, "a bridge no record knows, or the reverse"
    elif point == "network.after-endpoint":
        nets = d.api("GET", "/containers/cm-conn/json")[1]["NetworkSettings"]["Networks"]
        on_bridge = _links_on(w.bridge)
        assert ("cm-net" in nets) == bool(on_bridge), (nets.keys(), on_bridge)
    elif point.startswith("start"):
        st = d.api("GET", "/containers/cm-ctr/json")[1]["State"]["Status"]
        assert st in ("created", "running", "exited"), st
        _ok(d.dockyard("start", "cm-ctr")) if st != "running" else None
        assert _ok(d.dockyard("exec", "cm-ctr", "echo", "up")) == "up"
        cid = d.api("GET", "/containers/cm-ctr/json")[1]["Id"]
        assert f"dockyard:{cid[:12]}" in _container_rules(d), "its published port has no rule"
    elif point.startswith("create") and d.api("GET", "/containers/cm-ctr/json")[0] == 200:
        _ok(d.dockyard("start", "cm-ctr"))


def test_every_point_is_placed_once_in_the_daemon() -> None:
    found: dict[str, int] = {}
    for path in SRC.rglob("*.py"):
        if path.name == "crashpoints.py":
            continue
        for name in re.findall(r'crashpoint\("([^"]+)"', path.read_text()):
            found[name] = found.get(name, 0) + 1
    assert found == dict.fromkeys(POINTS, 1)


@pytest.mark.parametrize("point", POINTS)
def test_crash_at(world: World, point: str) -> None:
    setup, op = _op_for(point)
    try:
        if setup is not None:
            setup(world)
        _crash(world, point, lambda: op(world))
        _invariants(world, point)
        _after(world, point)
        with contextlib.suppress(FileNotFoundError):
            (world.d.root / "cm-file").unlink()
        _clean(world, point)
    except BaseException:
        _wipe(world)
        raise
