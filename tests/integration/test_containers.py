"""Container lifecycle through the Engine API on a private daemon (E1, E4, S2-S6), real runc."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def create(d: Daemon, cmd: list[str], name: str | None = None, **extra: object) -> str:
    q = f"?name={name}" if name else ""
    body = {"Image": "busybox", "Cmd": cmd, **extra}
    status, out = d.api("POST", f"/containers/create{q}", body)
    assert status == 201, out
    return str(out["Id"])


def run_to_exit(d: Daemon, cmd: list[str], **extra: object) -> tuple[str, int]:
    cid = create(d, cmd, **extra)
    status, out = d.api("POST", f"/containers/{cid}/start")
    assert status == 204, out
    status, out = d.api("POST", f"/containers/{cid}/wait")
    assert status == 200, out
    return cid, int(out["StatusCode"])


def logs(d: Daemon, cid: str) -> bytes:
    status, out = d.api("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert status == 200
    assert isinstance(out, bytes | bytearray)
    return bytes(out)


def demux(raw: bytes) -> list[tuple[int, bytes]]:
    frames, i = [], 0
    while i + 8 <= len(raw):
        n = int.from_bytes(raw[i + 4 : i + 8], "big")
        frames.append((raw[i], raw[i + 8 : i + 8 + n]))
        i += 8 + n
    return frames


def test_run_echo_exit_code_and_logs(daemon: Daemon) -> None:
    """E4: output lands in the json-file log with its stream; the exit code is kept."""
    cid, code = run_to_exit(daemon, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert code == 3
    frames = demux(logs(daemon, cid))
    assert (1, b"out\n") in frames and (2, b"err\n") in frames
    status, info = daemon.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3
    log_path = Path(info["LogPath"])
    assert log_path.name == f"{cid}-json.log" and '"stream":"stderr"' in log_path.read_text()
    daemon.api("DELETE", f"/containers/{cid}")


def test_graphdriver_layout_and_init_layer(daemon: Daemon) -> None:
    """S2: real overlay2 paths, an -init layer below the container's own layer."""
    cid = create(daemon, ["sleep", "30"])
    _, info = daemon.api("GET", f"/containers/{cid}/json")
    gd = info["GraphDriver"]
    assert gd["Name"] == "overlay2"
    upper = Path(gd["Data"]["UpperDir"])
    assert upper.is_dir() and upper.name == "diff"
    lowers = gd["Data"]["LowerDir"].split(":")
    assert lowers[0].endswith("-init/diff")
    assert (Path(lowers[0]) / "etc/hosts").exists()
    assert str(daemon.data_root / "overlay2") in gd["Data"]["MergedDir"]
    daemon.api("DELETE", f"/containers/{cid}?force=1")
    assert not upper.exists() and not Path(lowers[0]).exists()


def test_copy_on_write_and_changes(daemon: Daemon) -> None:
    """S3: writes go to the container's layer only; diff shows A/C/D kinds."""
    a, code = run_to_exit(
        daemon, ["sh", "-c", "echo x > /tmp/new; rm /bin/cat; echo y >> /etc/passwd"]
    )
    assert code == 0
    b, code = run_to_exit(daemon, ["sh", "-c", "test -e /bin/cat && ! test -e /tmp/new"])
    assert code == 0, "a second container saw the first one's changes"
    _, changes = daemon.api("GET", f"/containers/{a}/changes")
    kinds = {c["Path"]: c["Kind"] for c in changes}
    assert kinds["/tmp/new"] == 1 and kinds["/bin/cat"] == 2 and kinds["/etc/passwd"] == 0
    _, info = daemon.api("GET", f"/containers/{a}/json")
    upper = Path(info["GraphDriver"]["Data"]["UpperDir"])
    wh = os.lstat(upper / "bin/cat")
    assert os.major(wh.st_rdev) == 0 and os.minor(wh.st_rdev) == 0  # overlay whiteout
    for c in (a, b):
        daemon.api("DELETE", f"/containers/{c}")


def test_size_rw_counts_writable_layer_only(daemon: Daemon) -> None:
    """S5: SizeRw is the apparent size of diff/, SizeRootFs adds the image's layers."""
    cid, _ = run_to_exit(daemon, ["sh", "-c", "head -c 100000 /dev/zero > /big"])
    _, rows = daemon.api("GET", "/containers/json?all=1&size=1")
    row = next(r for r in rows if r["Id"] == cid)
    assert 100000 <= row["SizeRw"] < 110000
    _, img = daemon.api("GET", "/images/busybox/json")
    assert row["SizeRootFs"] == img["Size"] + row["SizeRw"]
    _, rows = daemon.api("GET", "/containers/json?all=1")
    assert "SizeRw" not in next(r for r in rows if r["Id"] == cid)
    daemon.api("DELETE", f"/containers/{cid}")


def test_stop_timeout_then_kill(daemon: Daemon) -> None:
    """E4: stop sends SIGTERM, then SIGKILL after the timeout (sh ignores TERM as pid 1)."""
    cid = create(daemon, ["sh", "-c", "trap '' TERM; sleep 60 & wait"])
    assert daemon.api("POST", f"/containers/{cid}/start")[0] == 204
    t0 = time.time()
    status, _ = daemon.api("POST", f"/containers/{cid}/stop?t=1")
    assert status == 204
    assert time.time() - t0 < 8
    _, info = daemon.api("GET", f"/containers/{cid}/json")
    assert info["State"]["ExitCode"] == 137
    assert daemon.api("POST", f"/containers/{cid}/stop")[0] == 304
    daemon.api("DELETE", f"/containers/{cid}")


def test_rm_running_needs_force(daemon: Daemon) -> None:
    cid = create(daemon, ["sleep", "60"])
    daemon.api("POST", f"/containers/{cid}/start")
    status, out = daemon.api("DELETE", f"/containers/{cid}")
    assert status == 409
    assert out["message"].startswith(f"You cannot remove a running container {cid}")
    assert daemon.api("DELETE", f"/containers/{cid}?force=1")[0] == 204
    assert daemon.api("GET", f"/containers/{cid}/json")[0] == 404


def test_bad_input_creates_nothing(daemon: Daemon) -> None:
    """Docker's statuses and wording; no half-made container."""
    _, before = daemon.api("GET", "/containers/json?all=1")
    status, out = daemon.api(
        "POST", "/containers/create", {"Image": "nope:latest", "Cmd": ["true"]}
    )
    assert status == 404 and out["message"] == "No such image: nope:latest"
    status, out = daemon.api("POST", "/containers/create?name=a%20b", {"Image": "busybox"})
    assert status == 400 and "Invalid container name (a b)" in out["message"]
    bad_policy = {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}
    status, out = daemon.api("POST", "/containers/create", bad_policy)
    assert status == 400 and "invalid restart policy" in out["message"]
    status, out = daemon.api(
        "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"Memory": 1024}}
    )
    assert status == 400 and out["message"] == "Minimum memory limit allowed is 6MB"
    status, out = daemon.api("POST", "/containers/create", raw=b"{not json")
    assert status == 400
    create(daemon, ["true"], name="dup")
    status, out = daemon.api("POST", "/containers/create?name=dup", {"Image": "busybox"})
    assert status == 409 and 'The container name "/dup" is already in use' in out["message"]
    daemon.api("DELETE", "/containers/dup")
    _, after = daemon.api("GET", "/containers/json?all=1")
    assert len(after) == len(before)


def test_missing_executable_is_127(daemon: Daemon) -> None:
    cid = create(daemon, ["/nope"])
    status, out = daemon.api("POST", f"/containers/{cid}/start")
    assert status == 400, out
    assert "no such file or directory" in out["message"] or "not found" in out["message"]
    _, info = daemon.api("GET", f"/containers/{cid}/json")
    assert info["State"]["ExitCode"] == 127
    daemon.api("DELETE", f"/containers/{cid}")


def test_pause_unpause_and_top(daemon: Daemon) -> None:
    cid = create(daemon, ["sleep", "60"])
    daemon.api("POST", f"/containers/{cid}/start")
    _, top = daemon.api("GET", f"/containers/{cid}/top")
    assert "PID" in top["Titles"] and any("sleep" in " ".join(p) for p in top["Processes"])
    assert daemon.api("POST", f"/containers/{cid}/pause")[0] == 204
    _, info = daemon.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Status"] == "paused" and info["State"]["Paused"]
    assert daemon.api("POST", f"/containers/{cid}/pause")[0] == 409
    assert daemon.api("POST", f"/containers/{cid}/unpause")[0] == 204
    daemon.api("DELETE", f"/containers/{cid}?force=1")


def test_restart_policy_on_failure(daemon: Daemon) -> None:
    cid = create(
        daemon,
        ["sh", "-c", "exit 1"],
        HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
    )
    daemon.api("POST", f"/containers/{cid}/start")
    deadline = time.time() + 15
    info: dict[str, object] = {}
    while time.time() < deadline:
        _, info = daemon.api("GET", f"/containers/{cid}/json")
        if info["RestartCount"] == 2 and info["State"]["Status"] == "exited":  # type: ignore[index]
            break
        time.sleep(0.1)
    assert info["RestartCount"] == 2
    daemon.api("DELETE", f"/containers/{cid}?force=1")


def test_commit_adds_one_layer(daemon: Daemon) -> None:
    """S6: commit gives an image with one more layer holding the container's changes."""
    cid, _ = run_to_exit(daemon, ["sh", "-c", "echo committed > /hello"])
    status, out = daemon.api("POST", f"/commit?container={cid}&repo=committed&tag=v1")
    assert status == 201, out
    _, base = daemon.api("GET", "/images/busybox/json")
    _, img = daemon.api("GET", "/images/committed:v1/json")
    assert img["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    assert len(img["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    c2, code = run_to_exit(daemon, ["grep", "-q", "committed", "/hello"], Image="committed:v1")
    assert code == 0
    for c in (cid, c2):
        daemon.api("DELETE", f"/containers/{c}")
    status, out = daemon.api("DELETE", "/images/committed:v1")
    assert status == 200, out
