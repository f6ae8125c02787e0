"""E5 / R1: a pull interrupted by kill -9 of the daemon. Nothing is half-stored or visible
after the restart (no image, no temporary files), and a retried pull reuses the layers that had
completed ("Already exists") instead of fetching them again. An `rmi` interrupted so leaves
nothing of the image after the restart, and nothing another image needs is missing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path

import pytest

from dockyard.crashpoints import ENV
from tests.conftest import Daemon, UnixHTTPConnection, private_daemon
from tests.registry import File, busybox_files, oci_layout, registry, skopeo_push

pytestmark = pytest.mark.integration

BIG = 48 * 1024 * 1024


def _pull_lines(d: Daemon, ref: str, tag: str) -> tuple[UnixHTTPConnection, object]:
    conn = UnixHTTPConnection(str(d.socket), timeout=60)
    conn.request("POST", f"/images/create?fromImage={ref}&tag={tag}")
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    return conn, resp


def test_pull_killed_midway_leaves_nothing_and_a_retry_reuses_finished_layers(
    tmp_path: Path,
) -> None:
    layers = [busybox_files(), {"etc/small": File(b"small\n")},
              {"big1": File(os.urandom(BIG))}, {"big2": File(os.urandom(BIG))}]  # fmt: skip
    oci_layout(tmp_path / "img", layers, compression="none")
    with registry(tmp_path / "reg") as reg, private_daemon("-pk", f"dyk{os.getpid()}") as d:
        name = f"{reg.host}/crash"
        skopeo_push(tmp_path / "img", "crash:1", reg)
        conn, resp = _pull_lines(d, name, "1")
        completed: list[str] = []
        for raw in resp:  # type: ignore[attr-defined]
            msg = json.loads(raw)
            if msg.get("status") == "Pull complete":
                completed.append(msg["id"])
                if len(completed) == 2:
                    break
        assert d.proc is not None
        d.proc.send_signal(signal.SIGKILL)  # mid-pull: the big layers are still on their way
        d.proc.wait()
        conn.close()
        d.start()
        status, images = d.api("GET", "/images/json")
        assert status == 200
        assert not [i for i in images if any(t.startswith(name) for t in i["RepoTags"] or [])]
        assert list((d.data_root / "tmp").iterdir()) == []
        conn, resp = _pull_lines(d, name, "1")
        messages = [json.loads(line) for line in resp]  # type: ignore[attr-defined]
        conn.close()
        assert not [m for m in messages if "error" in m], messages
        reused = {m["id"] for m in messages if m.get("status") == "Already exists"}
        assert set(completed) <= reused, (completed, messages)
        assert [m for m in messages if m.get("status") == "Pull complete"], "nothing was left to do"
        assert messages[-1]["status"] == f"Status: Downloaded newer image for {name}:1"
        r = d.dockyard("run", "--rm", f"{name}:1", "cat", "/etc/small")
        assert (r.returncode, r.stdout) == (0, "small\n"), r.stderr
        d.dockyard("rmi", f"{name}:1")


def test_rmi_killed_midway_leaves_nothing_orphaned_or_missing(tmp_path: Path) -> None:
    """E5 / R1 (#13): `rmi` of a pulled image killed by kill -9 at the crash point after its
    record and layers are gone and before its config and layer blobs are: after the
    restart nothing of it is left (no blob, layer directory or temporary file), and the image
    that shares its base layer still has every blob it needs (config, manifest, layer blobs)
    and runs. The store then holds exactly what it held before the pulls plus that image."""
    base = {**busybox_files(), "etc/id": File(os.urandom(8).hex().encode())}
    many = {f"many/{i // 500}/{i}": File(b"x") for i in range(400)}
    oci_layout(tmp_path / "a", [base, many])
    oci_layout(tmp_path / "b", [base, {"etc/b": File(b"kept\n")}])
    with registry(tmp_path / "reg") as reg, private_daemon("-pr", f"dyg{os.getpid()}") as d:
        skopeo_push(tmp_path / "a", "a:1", reg)
        digest_b = skopeo_push(tmp_path / "b", "b:1", reg)
        before_blobs, before_dirs = _blobs(d), _layer_dirs(d)
        for name in ("a", "b"):
            conn, resp = _pull_lines(d, f"{reg.host}/{name}", "1")
            assert not [m for m in map(json.loads, resp) if "error" in m]  # type: ignore[call-overload]
            conn.close()
        status, a = d.api("GET", f"/images/{reg.host}/a:1/json")
        assert status == 200
        status, b = d.api("GET", f"/images/{reg.host}/b:1/json")
        assert status == 200
        a_blobs = _blobs(d) - before_blobs - _image_blobs(d, b, digest_b)
        assert _hex(a["Id"]) in a_blobs and len(a_blobs) == 3  # config, manifest, top layer

        d.stop()
        d.extra_env = {ENV: "rmi.after-layers"}  # the record and layers gone, blobs not yet
        d.start()

        def rmi() -> None:
            with contextlib.suppress(OSError):  # the daemon dies under it
                d.api("DELETE", f"/images/{reg.host}/a:1")

        removing = threading.Thread(target=rmi)
        removing.start()
        assert d.proc is not None
        d.proc.wait(60)
        assert d.proc.returncode == -9
        removing.join()
        left = _blobs(d) & a_blobs
        assert _hex(a["Id"]) in left, "the kill came after the blobs were removed"

        d.extra_env = {}
        d.start()
        assert _blobs(d) == before_blobs | _image_blobs(d, b, digest_b)
        assert list((d.data_root / "tmp").iterdir()) == []
        assert len(_layer_dirs(d) - before_dirs) == 2  # b's two layers
        r = d.dockyard("run", "--rm", f"{reg.host}/b:1", "cat", "/etc/b")
        assert (r.returncode, r.stdout) == (0, "kept\n"), r.stderr
        status, b_again = d.api("GET", f"/images/{reg.host}/b:1/json")
        assert status == 200 and b_again["RepoDigests"] == [f"{reg.host}/b@{digest_b}"]
        d.dockyard("rmi", f"{reg.host}/b:1")
        assert _blobs(d) == before_blobs


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _blobs(d: Daemon) -> set[str]:
    return {p.name for p in (d.data_root / "content" / "sha256").iterdir()}


def _layer_dirs(d: Daemon) -> set[str]:
    return {p.name for p in (d.data_root / "overlay2").iterdir() if p.name not in ("l", ".trash")}


def _image_blobs(d: Daemon, inspected: dict[str, object], manifest: str) -> set[str]:
    """An image's config and manifest, and the layer blobs the manifest lists."""
    raw = (d.data_root / "content" / "sha256" / _hex(manifest)).read_bytes()
    layers = [lay["digest"] for lay in json.loads(raw)["layers"]]
    return {_hex(str(inspected["Id"])), _hex(manifest), *map(_hex, layers)}
