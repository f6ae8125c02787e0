"""Volumes, bind mounts, tmpfs, disk usage and prune (S5, S8, S9, S10) on a private daemon."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def dy(d: Daemon, *args: str, ok: bool = True) -> str:
    r = d.dockyard(*args)
    if ok:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout if ok else r.stderr


def uniq(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def hostdir() -> Iterator[Path]:
    p = Path(tempfile.mkdtemp(prefix="dy-vol-"))
    try:
        yield p
    finally:
        shutil.rmtree(p, ignore_errors=True)


@pytest.fixture(scope="module")
def image_with_data(daemon: Daemon) -> Iterator[str]:
    """An image whose /data has owners, modes, a symlink, a hard link and an xattr."""
    name = uniq("vsrc")
    script = (
        "mkdir -p /data/sub && echo hello > /data/f && chown 1000:2000 /data/f && "
        "chmod 0640 /data/f && ln -s f /data/link && ln /data/f /data/hard && "
        "chmod 0750 /data && chown 7:8 /data && echo deep > /data/sub/g && "
        "touch -d '2001-02-03 04:05:06' /data/sub/g"
    )
    dy(daemon, "run", "--name", name, "busybox", "sh", "-c", script)
    dy(daemon, "commit", name, f"{name}:img")
    dy(daemon, "rm", name)
    try:
        yield f"{name}:img"
    finally:
        daemon.dockyard("rmi", "-f", f"{name}:img")


def mountpoint(d: Daemon, name: str) -> Path:
    status, vol = d.api("GET", f"/volumes/{name}")
    assert status == 200, vol
    return Path(vol["Mountpoint"])


def test_volume_crud_and_errors(daemon: Daemon) -> None:
    """S8: create/inspect/ls/rm through the API, Docker's shapes and wording."""
    name = uniq("crud")
    status, vol = daemon.api(
        "POST", "/volumes/create", {"Name": name, "Labels": {"a": "b"}, "DriverOpts": {}}
    )
    assert status == 201, vol
    assert vol["Mountpoint"] == str(daemon.data_root / "volumes" / name / "_data")
    assert vol["Driver"] == "local" and vol["Scope"] == "local" and vol["Labels"] == {"a": "b"}
    assert Path(vol["Mountpoint"]).is_dir()
    status, again = daemon.api("POST", "/volumes/create", {"Name": name})
    assert status == 201 and again["CreatedAt"] == vol["CreatedAt"]  # idempotent
    status, listed = daemon.api("GET", "/volumes?filters=" + quote(json.dumps({"label": ["a=b"]})))
    assert name in [v["Name"] for v in listed["Volumes"]]
    status, err = daemon.api("POST", "/volumes/create", {"Name": "bad name"})
    assert status == 400 and "includes invalid characters for a local volume name" in err["message"]
    status, err = daemon.api("POST", "/volumes/create", {"Name": "x1", "DriverOpts": {"foo": "1"}})
    assert status == 400 and err["message"] == 'create x1: invalid option: "foo"'
    status, err = daemon.api("GET", "/volumes/nosuch-vol")
    assert status == 404 and err["message"] == "get nosuch-vol: no such volume"
    assert daemon.api("DELETE", f"/volumes/{name}")[0] == 204
    assert daemon.api("DELETE", f"/volumes/{name}")[0] == 404
    assert daemon.api("DELETE", f"/volumes/{name}?force=1")[0] == 204
    assert not Path(vol["Mountpoint"]).parent.exists()


def test_named_volume_created_on_demand_outlives_container_and_409(daemon: Daemon) -> None:
    """S8: `-v name:/path` creates the volume; data survives the container; rm while used: 409."""
    name = uniq("ondemand")
    cid = dy(daemon, "create", "-v", f"{name}:/d", "busybox", "sh", "-c", "echo x > /d/f").strip()
    status, err = daemon.api("DELETE", f"/volumes/{name}")
    assert status == 409 and err["message"] == f"remove {name}: volume is in use - [{cid}]"
    dy(daemon, "start", "-a", cid)
    dy(daemon, "rm", "-v", cid)  # -v removes anonymous volumes only
    assert (mountpoint(daemon, name) / "f").read_text() == "x\n"
    out = dy(daemon, "run", "--rm", "-v", f"{name}:/d:ro", "busybox", "cat", "/d/f")
    assert out == "x\n"
    dy(daemon, "volume", "rm", name)


def test_populate_keeps_metadata_and_links(daemon: Daemon, image_with_data: str) -> None:
    """S8: an empty volume on a non-empty image dir gets a faithful copy at create."""
    name = uniq("pop")
    dy(daemon, "create", "--name", name, "-v", f"{name}:/data", image_with_data, "true")
    data = mountpoint(daemon, name)
    f = data / "f"
    st = f.stat()
    assert f.read_text() == "hello\n" and (st.st_uid, st.st_gid) == (1000, 2000)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert os.readlink(data / "link") == "f"
    assert (data / "hard").stat().st_ino == st.st_ino and st.st_nlink == 2
    top = data.stat()
    assert (top.st_uid, top.st_gid, stat.S_IMODE(top.st_mode)) == (7, 8, 0o750)
    assert int((data / "sub" / "g").stat().st_mtime) == 981173106
    dy(daemon, "rm", name)
    # A non-empty volume is never touched; nocopy leaves an empty one empty.
    (data / "f").write_text("mine\n")
    (data / "hard").unlink()
    dy(daemon, "run", "--rm", "-v", f"{name}:/data", image_with_data, "true")
    assert (data / "f").read_text() == "mine\n" and not (data / "hard").exists()
    other = uniq("nocopy")
    dy(daemon, "run", "--rm", "-v", f"{other}:/data:nocopy", image_with_data, "true")
    assert list(mountpoint(daemon, other).iterdir()) == []
    dy(daemon, "volume", "rm", name, other)


def test_anonymous_volumes_removed_by_rm_v_and_run_rm(daemon: Daemon, image_with_data: str) -> None:
    """S8: `-v /path` and image VOLUMEs are anonymous; `rm -v` and `run --rm` remove them."""
    before = set(dy(daemon, "volume", "ls", "-q").split())
    cid = dy(daemon, "create", "-v", "/anon", image_with_data, "true").strip()
    status, info = daemon.api("GET", f"/containers/{cid}/json")
    (m,) = info["Mounts"]
    assert m["Type"] == "volume" and m["Destination"] == "/anon" and m["Mode"] == ""
    assert m["RW"] is True and len(m["Name"]) == 64 and m["Driver"] == "local"
    assert m["Source"] == str(daemon.data_root / "volumes" / m["Name"] / "_data")
    dy(daemon, "rm", "-v", cid)
    dy(daemon, "run", "--rm", "-v", "/anon2", "busybox", "touch", "/anon2/x")
    assert set(dy(daemon, "volume", "ls", "-q").split()) == before


def test_read_only_volume_and_bind(daemon: Daemon, hostdir: Path) -> None:
    """S8, S9: `:ro` mounts refuse writes with EROFS."""
    r = daemon.dockyard("run", "--rm", "-v", f"{hostdir}:/b:ro", "busybox", "touch", "/b/x")
    assert r.returncode == 1 and "Read-only file system" in r.stderr
    assert not (hostdir / "x").exists()


def test_bind_hides_image_content_and_creates_missing_dir(daemon: Daemon, hostdir: Path) -> None:
    """S9: a bind hides the image path unchanged; `-v` makes a missing source 0755."""
    out = dy(daemon, "run", "--rm", "-v", f"{hostdir}:/bin2", "busybox", "ls", "-a", "/bin2")
    assert out.split() == [".", ".."]
    missing = hostdir / "new" / "dir"
    dy(daemon, "run", "--rm", "-v", f"{missing}:/m", "busybox", "touch", "/m/f")
    assert (missing / "f").exists() and stat.S_IMODE(missing.stat().st_mode) == 0o755
    (hostdir / "file.txt").write_text("one file\n")
    out = dy(
        daemon, "run", "--rm", "-v", f"{hostdir}/file.txt:/etc/one", "busybox", "cat", "/etc/one"
    )
    assert out == "one file\n"
    gone = hostdir / "absent"
    status, err = daemon.api(
        "POST",
        "/containers/create",
        {"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "bind", "Source": str(gone), "Target": "/x"}]}},
    )  # fmt: skip
    assert status == 400
    assert err["message"] == (
        f'invalid mount config for type "bind": bind source path does not exist: {gone}'
    )
    out = dy(daemon, "run", "--rm", "--mount", f"type=bind,source={hostdir},target=/mb,readonly",
             "busybox", "cat", "/mb/file.txt")  # fmt: skip
    assert out == "one file\n"


def test_bind_mounts_shape_in_inspect(daemon: Daemon, hostdir: Path) -> None:
    """S9: `.Mounts` for binds as Docker fills it (Mode, RW, Propagation)."""
    cid = dy(daemon, "create", "-v", f"{hostdir}:/b:ro,rshared", "--mount",
             f"type=bind,src={hostdir},dst=/mb", "busybox", "true").strip()  # fmt: skip
    status, info = daemon.api("GET", f"/containers/{cid}/json")
    assert info["Mounts"] == [
        {"Type": "bind", "Source": str(hostdir), "Destination": "/b", "Mode": "ro,rshared",
         "RW": False, "Propagation": "rshared"},
        {"Type": "bind", "Source": str(hostdir), "Destination": "/mb", "Mode": "",
         "RW": True, "Propagation": "rprivate"},
    ]  # fmt: skip
    dy(daemon, "rm", cid)


def test_bad_specs_are_docker_400s(daemon: Daemon) -> None:
    """S8-S10: spec errors in Docker's words, before anything is created."""
    cases = [
        ({"Binds": ["/a:/x", "/b:/x"]}, "Duplicate mount point: /x"),
        ({"Binds": ["/a:rel"]}, "invalid volume specification: '/a:rel': invalid mount config "
         "for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
        ({"Binds": ["v1x:/x:bogus"]}, "invalid mode: bogus"),
        ({"Mounts": [{"Type": "tmpfs", "Source": "/a", "Target": "/x"}]},
         'invalid mount config for type "tmpfs": field Source must not be specified'),
        ({"Tmpfs": {"rel": ""}}, "invalid mount path: 'rel' mount path must be absolute"),
    ]  # fmt: skip
    for hc, message in cases:
        status, err = daemon.api(
            "POST", "/containers/create", {"Image": "busybox", "HostConfig": hc}
        )
        assert (status, err["message"]) == (400, message)


def test_tmpfs_defaults_not_in_writable_layer_and_gone_after_restart(daemon: Daemon) -> None:
    """S10: tmpfs mounts are noexec,nosuid,nodev, never reach the rw layer, vanish on restart."""
    cid = dy(daemon, "run", "-d", "--tmpfs", "/t:size=1m", "--mount",
             "type=tmpfs,dst=/mt,tmpfs-size=2m,tmpfs-mode=1770", "busybox", "sleep", "60").strip()  # fmt: skip
    try:
        mounts = dy(daemon, "exec", cid, "cat", "/proc/mounts")
        t = next(line for line in mounts.splitlines() if " /t " in line)
        assert (
            "tmpfs" in t and "nosuid" in t and "nodev" in t and "noexec" in t and "size=1024k" in t
        )
        mt = next(line for line in mounts.splitlines() if " /mt " in line)
        assert "size=2048k" in mt and "mode=1770" in mt
        dy(daemon, "exec", cid, "sh", "-c", "echo x > /t/f && echo y > /mt/g")
        status, changes = daemon.api("GET", f"/containers/{cid}/changes")
        paths = [c["Path"] for c in changes or []]
        assert not any(p.startswith(("/t/", "/mt/")) for p in paths), paths
        status, info = daemon.api("GET", f"/containers/{cid}/json")
        assert info["Mounts"] == [{"Type": "tmpfs", "Source": "", "Destination": "/mt",
                                   "Mode": "", "RW": True, "Propagation": ""}]  # fmt: skip
        dy(daemon, "restart", "-t", "0", cid)
        r = daemon.dockyard("exec", cid, "cat", "/t/f")
        assert r.returncode != 0
    finally:
        dy(daemon, "rm", "-f", cid)


def test_volume_options_tmpfs(daemon: Daemon) -> None:
    """S8: local driver options: `type=tmpfs` volumes are mounted as tmpfs in the container."""
    name = uniq("tmpvol")
    dy(
        daemon,
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        name,
    )
    out = dy(daemon, "run", "--rm", "-v", f"{name}:/v", "busybox", "grep", " /v ", "/proc/mounts")
    assert out.startswith("tmpfs /v tmpfs") and "size=1024k" in out
    dy(daemon, "volume", "rm", name)


def test_ls_filters_and_prune(daemon: Daemon) -> None:
    """S8: `dangling`, `label`, `name`, `driver` filters; prune removes unused anonymous volumes
    by default, named ones with --all, never used ones."""
    used, named, lab = uniq("used"), uniq("named"), uniq("lab")
    dy(daemon, "volume", "create", named)
    dy(daemon, "volume", "create", "--label", "team=x", lab)
    cid = dy(daemon, "create", "-v", f"{used}:/u", "-v", "/anonkept", "busybox", "true").strip()
    anon_cid = dy(daemon, "create", "-v", "/anongone", "busybox", "true").strip()
    status, info = daemon.api("GET", f"/containers/{anon_cid}/json")
    anon = info["Mounts"][0]["Name"]
    dy(daemon, "rm", anon_cid)  # without -v: the anonymous volume stays, dangling
    dangling = dy(daemon, "volume", "ls", "-q", "--filter", "dangling=true").split()
    assert named in dangling and anon in dangling and used not in dangling
    assert dy(daemon, "volume", "ls", "-q", "-f", "label=team=x").split() == [lab]
    assert used in dy(daemon, "volume", "ls", "-q", "-f", f"name={used[:8]}").split()
    assert dy(daemon, "volume", "ls", "-q", "-f", "driver=nope").split() == []
    out = dy(daemon, "volume", "prune", "-f")
    assert anon in out and named not in out and "Total reclaimed space" in out
    out = dy(daemon, "volume", "prune", "-f", "--all", "--filter", "label=team=x")
    assert lab in out and named not in out
    out = dy(daemon, "volume", "prune", "-af")
    assert named in out and used not in out
    dy(daemon, "rm", "-v", cid)
    dy(daemon, "volume", "rm", used)


def test_system_df_counts_shared_layers_once_and_volumes(daemon: Daemon) -> None:
    """S5: /system/df: images with SharedSize/Containers, LayersSize over unique layers,
    containers' SizeRw, volumes' {Size, RefCount}."""
    name = uniq("dfvol")
    cid = dy(daemon, "create", "-v", f"{name}:/v", "busybox", "sh", "-c",
             "head -c 3000 /dev/zero > /v/f; head -c 5000 /dev/zero > /w").strip()  # fmt: skip
    dy(daemon, "start", "-a", cid)
    dy(daemon, "commit", cid, f"{name}:img")  # shares busybox's layer
    status, df = daemon.api("GET", "/system/df")
    assert status == 200
    vol = next(v for v in df["Volumes"] if v["Name"] == name)
    assert vol["UsageData"] == {"Size": 3000, "RefCount": 1}
    row = next(c for c in df["Containers"] if c["Id"] == cid)
    assert row["SizeRw"] >= 5000
    imgs = {i["Id"]: i for i in df["Images"]}
    status, mine = daemon.api("GET", f"/images/{name}:img/json")
    status, base = daemon.api("GET", "/images/busybox/json")
    assert imgs[mine["Id"]]["SharedSize"] == base["Size"]
    assert imgs[base["Id"]]["Containers"] >= 1
    assert df["LayersSize"] <= sum(i["Size"] for i in df["Images"]) - base["Size"]
    out = dy(daemon, "system", "df", "-v")
    assert "Local Volumes space usage:" in out and name in out
    dy(daemon, "rm", "-v", cid)
    dy(daemon, "rmi", f"{name}:img")
    dy(daemon, "volume", "rm", name)
