"""#17 item 5 (R1): a full disk. The daemon's data root is a small ext4 filesystem made by the
test (a loop-mounted file); a container fills it. Then create, cp into a container, commit,
build, volume create and a pull fail with "no space left on device" and leave nothing behind
(no container, image, layer, blob, volume or temporary file); a container that logs keeps running
through it; `rm -f` still works on the full disk (the metadata database keeps reserved space for
that) and frees it; and afterwards every one of those operations works again."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, UnixHTTPConnection, private_daemon, until
from tests.registry import File, busybox_files, oci_layout, registry, skopeo_push

pytestmark = pytest.mark.integration

FULL = "no space left on device"


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _send(d: Daemon, method: str, path: str, body: bytes, ctype: str) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(str(d.socket), timeout=120)
    conn.request(method, path, body=body, headers={"Content-Type": ctype})
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp.status, out


def _run(d: Daemon, *cmd: str) -> str:
    status, out = d.api("POST", "/containers/create", {"Image": "busybox", "Cmd": list(cmd)})
    assert status == 201, out
    cid = str(out["Id"])
    status, out = d.api("POST", f"/containers/{cid}/start")
    assert status == 204, out
    return cid


def _build(d: Daemon, dockerfile: str, tag: str) -> list[dict[str, Any]]:
    """The build's messages; a build refused before it streams (its context could not be
    stored) as one error message."""
    status, out = _send(d, "POST", f"/build?t={tag}", _tar({"Dockerfile": dockerfile.encode()}),
                        "application/x-tar")  # fmt: skip
    if status != 200:
        return [{"error": json.loads(out)["message"], "status": status}]
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _pull(d: Daemon, ref: str) -> list[dict[str, Any]]:
    status, out = _send(d, "POST", f"/images/create?fromImage={ref}", b"", "text/plain")
    assert status == 200, out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _state(d: Daemon) -> dict[str, Any]:
    """What a failed operation must leave as it was."""
    root = d.data_root

    def names(p: Path) -> set[str]:
        return set(os.listdir(p)) if p.exists() else set()

    return {
        "containers": sorted(c["Id"] for c in d.api("GET", "/containers/json?all=1")[1]),
        "images": sorted(i["Id"] for i in d.api("GET", "/images/json?all=1")[1]),
        "volumes": sorted(v["Name"] for v in d.api("GET", "/volumes")[1]["Volumes"] or []),
        "layers": names(root / "overlay2"),
        "blobs": names(root / "content" / "sha256"),
        "tmp": names(root / "tmp"),
    }


def _fill(d: Daemon) -> str:
    """A container whose writable layer takes every free block, then waits."""
    cid = _run(d, "sh", "-c", "head -c 1000000000 /dev/zero > /fill; touch /done; sleep 1d")
    assert until(lambda: os.statvfs(d.data_root).f_bavail == 0 and
                 d.api("GET", f"/containers/{cid}/archive?path=/done")[0] == 200, 20)  # fmt: skip
    return cid


def _logs(d: Daemon, cid: str) -> list[str]:
    status, out = d.api("GET", f"/containers/{cid}/logs?stdout=1")
    assert status == 200
    return [line for line in (out or b"").decode(errors="replace").split("\n") if "tick" in line]


def test_a_full_disk_fails_cleanly_and_everything_works_once_space_is_freed(
    tmp_path: Path,
) -> None:
    layout = tmp_path / "img"
    oci_layout(layout, [busybox_files(), {"big": File(os.urandom(8 << 20))}], compression="gzip")
    with registry(tmp_path / "reg") as reg, \
            private_daemon("-df", f"dydf{os.getpid() % 10000}", data_fs_mib=96) as d:  # fmt: skip
        skopeo_push(layout, "full:1", reg)
        ref = f"{reg.host}/full:1"
        talker = _run(d, "sh", "-c", "while true; do echo tick; sleep 0.1; done")
        filler = _fill(d)
        before = _state(d)

        status, out = d.api("POST", "/containers/create", {"Image": "busybox"})
        assert status == 500 and FULL in out["message"], out

        status, raw = _send(d, "PUT", f"/containers/{talker}/archive?path=/",
                            _tar({"copied.bin": os.urandom(4 << 20)}), "application/x-tar")  # fmt: skip
        assert status == 500 and FULL in json.loads(raw)["message"], raw
        assert d.api("GET", f"/containers/{talker}/archive?path=/copied.bin")[0] == 404

        status, out = d.api("POST", f"/commit?container={filler}&repo=full-commit")
        assert status == 500 and FULL in out["message"], out

        steps = _build(d, "FROM busybox\nRUN head -c 8000000 /dev/zero > /x\n", "full-build")
        assert FULL in steps[-1].get("error", ""), steps[-1]

        status, out = d.api("POST", "/volumes/create", {"Name": "full-volume"})
        assert status == 500 and FULL in out["message"], out

        messages = _pull(d, ref)
        assert FULL in messages[-1].get("error", ""), messages[-1]

        after = _state(d)
        # a failed build may keep the build steps it finished, as dockerd: none ran here
        assert after == before, (before, after)
        assert d.api("GET", f"/containers/{talker}/json")[1]["State"]["Running"] is True

        # removal needs no new space (the database's reserve), and frees the filler's
        status, out = d.api("DELETE", f"/containers/{filler}?force=1")
        assert status == 204, out
        assert os.statvfs(d.data_root).f_bavail > 0
        logged = len(_logs(d, talker))
        assert until(lambda: len(_logs(d, talker)) > logged + 3, 5), "logging did not resume"

        cid = _run(d, "sh", "-c", "echo made > /made; sleep 1d")
        status, raw = _send(d, "PUT", f"/containers/{cid}/archive?path=/",
                            _tar({"copied.bin": b"x" * (1 << 20)}), "application/x-tar")  # fmt: skip
        assert status == 200, raw
        status, out = d.api("POST", f"/commit?container={cid}&repo=full-commit")
        assert status == 201, out
        steps = _build(d, "FROM busybox\nRUN head -c 1000000 /dev/zero > /x\n", "full-build")
        assert "error" not in steps[-1], steps
        assert d.api("POST", "/volumes/create", {"Name": "full-volume"})[0] == 201
        messages = _pull(d, ref)
        assert "error" not in messages[-1], messages[-1]
        assert messages[-1]["status"] == f"Status: Downloaded newer image for {ref}"
        for image in ("full-commit", "full-build", ref):
            assert d.api("DELETE", f"/images/{image}")[0] == 200
        assert d.api("DELETE", "/volumes/full-volume")[0] == 204
        for c in (cid, talker):
            d.api("DELETE", f"/containers/{c}?force=1")
        assert _state(d)["tmp"] == set()
