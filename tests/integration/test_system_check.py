"""R1 (#17): `dockyard system check [--repair]` on a real daemon. A clean store reports
nothing; damage made here by hand (a layer directory no record names, a wrong reference
count, a blob nothing names, a corrupt one, a temp file left behind, a running container frozen
behind the daemon's back, a paused one thawed) is reported with exit status 125 and each
finding's kind; `--repair` fixes all of it without touching the intact image or containers,
and a second check is clean."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, private_daemon
from tests.registry import registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def d() -> Iterator[Daemon]:
    with private_daemon("-sc", f"dys{os.getpid()}") as daemon:
        yield daemon


def _report(d: Daemon, query: str = "") -> dict[str, object]:
    status, body = d.api("POST", f"/dockyard/system/check{query}")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def _runc(d: Daemon, *args: str) -> None:
    subprocess.run(["runc", "--root", str(d.exec_root / "runc"), *args], check=True)


def test_a_clean_store_checks_clean(d: Daemon) -> None:
    r = d.dockyard("system", "check")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert _report(d) == {"Errors": False, "Findings": []}
    r = d.dockyard("system", "check", "--quick", "--format", "json")
    assert (r.returncode, r.stdout) == (0, '{"Errors":false,"Findings":[]}\n'), r.stderr


def test_damage_is_reported_then_repaired_and_nothing_intact_goes(d: Daemon) -> None:
    run = d.dockyard("run", "-d", "--name", "chk-frozen", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr
    frozen = run.stdout.strip()
    run = d.dockyard("run", "-d", "--name", "chk-paused", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr
    paused = run.stdout.strip()
    assert d.dockyard("pause", "chk-paused").returncode == 0
    images_before = d.api("GET", "/images/json")[1]

    orphan = d.data_root / "overlay2" / ("0" * 64)
    (orphan / "diff").mkdir(parents=True)
    (orphan / "diff" / "half").write_bytes(b"x" * 4096)
    blobs = d.data_root / "content" / "sha256"
    stray = b"nothing names me"
    stray_hex = hashlib.sha256(stray).hexdigest()
    (blobs / stray_hex).write_bytes(stray)
    corrupt_hex = "e" * 64
    (blobs / corrupt_hex).write_bytes(b"not what the name says")
    tmp_left = d.data_root / "tmp" / "blob-left"
    tmp_left.write_bytes(b"half a blob")
    db = sqlite3.connect(d.data_root / "dockyard.db")
    top = db.execute("SELECT top_chain_id FROM images LIMIT 1").fetchone()[0]
    refs = db.execute("SELECT refs FROM layers WHERE chain_id = ?", (top,)).fetchone()[0]
    db.execute("UPDATE layers SET refs = refs + 4 WHERE chain_id = ?", (top,))
    db.commit()
    db.close()
    _runc(d, "pause", frozen)  # frozen behind the daemon's back: the record says running
    _runc(d, "resume", paused)  # thawed behind its back: the record says paused

    r = d.dockyard("system", "check")
    assert r.returncode == 125, (r.stdout, r.stderr)
    assert "problem(s) found" in r.stderr
    body = _report(d)
    assert body["Errors"] is True
    found = {(f["Kind"], f["Object"], f["Problem"]): f for f in body["Findings"]}  # type: ignore[union-attr,index]
    expected = {
        ("layer", "0" * 64): "directory without a layer record",
        ("layer", top): f"reference count is {refs + 4}, {refs} hold it",
        ("blob", f"sha256:{stray_hex}"): "not named by any image, manifest or layer",
        ("blob", f"sha256:{corrupt_hex}"): "content does not match its digest",
        ("temp file", str(tmp_left)): "left by an interrupted write",
        ("container", frozen): "frozen while recorded running",
        ("container", paused): "recorded paused but not frozen",
    }
    for (kind, target), problem in expected.items():
        f = found.get((kind, target, problem))
        assert f is not None, (kind, target, problem, body)
        assert f["Repairable"] is True and f["Repaired"] is False
    assert len(found) == len(expected) + 1  # the corrupt blob is an unnamed one too
    # --quick skips hashing: the corrupt blob is then only an unnamed one
    quick = _report(d, "?quick=1")["Findings"]
    assert ("blob", f"sha256:{corrupt_hex}") in {(f["Kind"], f["Object"]) for f in quick}  # type: ignore[index,union-attr]
    assert not [f for f in quick if f["Problem"] == "content does not match its digest"]  # type: ignore[index]

    r = d.dockyard("system", "check", "--repair")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert all(line.endswith("(repaired)") for line in r.stdout.splitlines()), r.stdout
    assert len(r.stdout.splitlines()) == len(body["Findings"])  # type: ignore[arg-type]

    assert not orphan.exists()
    assert not (blobs / stray_hex).exists() and not (blobs / corrupt_hex).exists()
    assert not tmp_left.exists()
    db = sqlite3.connect(d.data_root / "dockyard.db")
    assert db.execute("SELECT refs FROM layers WHERE chain_id = ?", (top,)).fetchone()[0] == refs
    db.close()
    assert not d.cgroups.frozen(frozen)
    states = {
        c["Id"]: c["State"]
        for c in d.api("GET", "/containers/json?all=1")[1]  # type: ignore[union-attr]
    }
    assert states[frozen] == "running" and states[paused] == "running"
    assert d.api("GET", "/images/json")[1] == images_before
    assert _report(d) == {"Errors": False, "Findings": []}
    r = d.dockyard("exec", "chk-frozen", "echo", "alive")
    assert (r.returncode, r.stdout) == (0, "alive\n"), r.stderr
    for name in ("chk-frozen", "chk-paused"):
        assert d.dockyard("rm", "-f", name).returncode == 0
    assert _report(d) == {"Errors": False, "Findings": []}


def _commit(d: Daemon, name: str, content: str) -> tuple[str, str]:
    """An image of its own (busybox plus one file); returns its id and top layer's cache id."""
    r = d.dockyard("run", "--name", f"{name}-src", "busybox", "sh", "-c", f"echo {content} >/f")
    assert r.returncode == 0, r.stderr
    r = d.dockyard("commit", f"{name}-src", name)
    assert r.returncode == 0, r.stderr
    assert d.dockyard("rm", f"{name}-src").returncode == 0
    image_id = r.stdout.strip()
    db = sqlite3.connect(d.data_root / "dockyard.db")
    top = db.execute("SELECT top_chain_id FROM images WHERE id = ?", (image_id,)).fetchone()[0]
    cache = db.execute("SELECT cache_id FROM layers WHERE chain_id = ?", (top,)).fetchone()[0]
    db.close()
    return image_id, cache


def test_damaged_images_go_with_repair_and_their_containers_with_force(d: Daemon) -> None:
    """podman's rule: `--repair` removes a damaged image unless a container uses it (reported,
    the image stays); `--repair --force` removes those containers, then the image."""
    lost, lost_cache = _commit(d, "chk-lost-layer", "a")
    garbled, _ = _commit(d, "chk-garbled", "b")
    user = d.dockyard("create", "--name", "chk-user", "chk-lost-layer", "cat", "/f")
    assert user.returncode == 0, user.stderr
    user_id = user.stdout.strip()
    busybox_before = d.api("GET", "/images/busybox/json")[1]
    subprocess.run(["rm", "-rf", str(d.data_root / "overlay2" / lost_cache)], check=True)
    config = d.data_root / "content" / "sha256" / garbled.removeprefix("sha256:")
    config.write_bytes(b"{not json")

    body = _report(d)
    findings = {(f["Kind"], f["Object"]): f for f in body["Findings"]}  # type: ignore[union-attr,index]
    assert findings[("image", garbled)]["Repairable"] is True
    assert findings[("blob", garbled)]["Problem"] == "content does not match its digest"
    why = findings[("container", user_id)]["Problem"]
    assert why.startswith(f"uses damaged image {lost} (its layer ") and "is missing" in why
    assert findings[("container", user_id)]["Repairable"] is False

    r = d.dockyard("system", "check", "--repair")
    assert r.returncode == 125, (r.stdout, r.stderr)
    assert f"image {garbled}: " in r.stdout and "(repaired)" in r.stdout
    assert d.api("GET", f"/images/{garbled}/json")[0] == 404
    assert d.api("GET", "/images/chk-lost-layer/json")[0] == 200  # chk-user still needs it
    assert not config.exists()

    r = d.dockyard("system", "check", "--repair", "--force")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert all(line.endswith("(repaired)") for line in r.stdout.splitlines()), r.stdout
    assert d.api("GET", f"/containers/{user_id}/json")[0] == 404
    assert d.api("GET", "/images/chk-lost-layer/json")[0] == 404
    assert _report(d) == {"Errors": False, "Findings": []}
    assert d.api("GET", "/images/busybox/json")[1] == busybox_before
    r = d.dockyard("run", "--rm", "busybox", "echo", "intact")
    assert (r.returncode, r.stdout) == (0, "intact\n"), r.stderr
    r = d.dockyard("system", "check", "--force")
    assert (r.returncode, r.stderr) == (125, "--force has effect only with --repair\n")


def test_a_corrupt_pushed_layer_blob_and_pulled_manifest_are_forgotten_image_kept(
    d: Daemon, tmp_path: Path
) -> None:
    """A compressed layer blob is kept only to push or save again, a pulled manifest only for
    the RepoDigest: `--repair` forgets a corrupt one (rows, digest reference, file) and keeps
    the image, which pushes again (compressed anew) and runs."""
    with registry(tmp_path / "reg") as reg:
        ref = f"{reg.host}/chk/app:1"
        for args in (("tag", "busybox", ref), ("push", ref), ("rmi", ref), ("pull", ref)):
            r = d.dockyard(*args)
            assert r.returncode == 0, (args, r.stderr)
        db = sqlite3.connect(d.data_root / "dockyard.db")
        (layer_blob,) = {row[0] for row in db.execute("SELECT digest FROM layer_blobs")}
        db.close()
        (repo_digest,) = d.api("GET", f"/images/{ref}/json")[1]["RepoDigests"]  # type: ignore[index]
        manifest = repo_digest.rpartition("@")[2]
        blobs = d.data_root / "content" / "sha256"
        for digest in (layer_blob, manifest):
            (blobs / digest.removeprefix("sha256:")).write_bytes(b"bit rot")

        body = _report(d)
        found = {(f["Kind"], f["Object"]): f for f in body["Findings"]}  # type: ignore[union-attr,index]
        assert set(found) == {("blob", layer_blob), ("blob", manifest)}, body
        assert all(f["Repairable"] for f in found.values())
        r = d.dockyard("system", "check", "--repair")
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert not (blobs / layer_blob.removeprefix("sha256:")).exists()
        assert not (blobs / manifest.removeprefix("sha256:")).exists()
        got = d.api("GET", f"/images/{ref}/json")[1]
        assert sorted(got["RepoTags"]) == sorted([ref, "busybox:latest"])  # type: ignore[index]
        assert got["RepoDigests"] == []  # type: ignore[index]
        assert _report(d) == {"Errors": False, "Findings": []}
        r = d.dockyard("push", ref)
        assert r.returncode == 0, r.stderr
        assert d.dockyard("rmi", ref).returncode == 0
    assert _report(d) == {"Errors": False, "Findings": []}
