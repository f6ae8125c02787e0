"""Pushing to real registries through dockyard (E5, #13): `POST /images/{name}/push` of the shared
test daemon to a docker-registry (distribution 2.8) on 127.0.0.1 started per test
(tests/registry.py), checked on the registry itself (manifests and blobs over HTTP), by a real
dockerd (the oracle) pulling and running what dockyard pushed, and against the oracle's own push
stream for the errors.

Covered: dockerd's progress stream and final `TAG: digest: ... size: N` line plus the aux
message, the same image Id on dockerd, "Layer already exists" on a second push, "Mounted from"
for a second repository of the same registry, a pulled image pushed back under another tag
keeping its manifest digest, a missing tag or repository, and token auth scopes for a push."""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests import oracle as oracle_dockerd
from tests import registry as R
from tests.compat.cli import docker
from tests.conftest import Daemon, UnixHTTPConnection
from tests.integration.test_registry_pull import (
    Messages,
    app_layout,
    call,
    failure,
    forget,
    inspect,
    mark,
    parse_stream,
    pull,
    short,
    xauth,
)

pytestmark = pytest.mark.integration

ANONYMOUS = "e30="  # base64url("{}"): what the docker CLI sends without credentials


def push(d: Daemon, name: str, tag: str, *, auth: str = ANONYMOUS) -> tuple[int, Messages]:
    """POST /images/NAME/push?tag=TAG: (status, the stream's messages)."""
    status, raw = call(d, "POST", f"/images/{name}/push?tag={tag}",
                       headers={"X-Registry-Auth": auth})  # fmt: skip
    return status, parse_stream(raw) if status == 200 else [{"message": raw.decode()}]


def oracle_push(sock: str, name: str, tag: str) -> tuple[int, Messages]:
    """The same request to the oracle dockerd."""
    return oracle_post(sock, f"/images/{name}/push?tag={tag}")


def oracle_post(sock: str, path: str) -> tuple[int, Messages]:
    """POST `path` to the oracle dockerd without credentials: (status, the stream's messages,
    or the error document alone)."""
    conn = UnixHTTPConnection(sock, timeout=120)
    try:
        conn.request("POST", path, headers={"X-Registry-Auth": ANONYMOUS})
        resp = conn.getresponse()
        return resp.status, parse_stream(resp.read())
    finally:
        conn.close()


def commit(d: Daemon, ref: str, script: str) -> str:
    """A new image `ref`: busybox plus what `script` writes, committed from a container."""
    name = f"push-{secrets.token_hex(4)}"
    r = docker(d, "run", "--name", name, "--network", "none", "busybox", "sh", "-c", script)
    try:
        assert r.returncode == 0, r.stderr
        r = docker(d, "commit", name, ref)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()
    finally:
        docker(d, "rm", "-f", name)


def final(msgs: Messages, tag: str) -> tuple[str, int]:
    """The pushed manifest's (digest, size) from the last two messages, checked for dockerd's
    shape: 'TAG: digest: sha256:... size: N' then the aux message with the same values."""
    assert failure(200, msgs) == "", msgs
    line, aux = msgs[-2], msgs[-1]
    words = line["status"].split()
    assert words[:2] == [f"{tag}:", "digest:"] and words[3] == "size:", line
    digest, size = words[2], int(words[4])
    assert aux == {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}
    return digest, size


def layer_statuses(msgs: Messages) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in msgs:
        if "id" in m and "progressDetail" in m:
            out.setdefault(m["id"], []).append(m["status"])
    return out


def uploads(reg: R.Registry, since: int) -> list[tuple[str, str, int]]:
    """Blob uploads and mounts the registry saw from its `since`-th request on."""
    return [(m, p, s) for m, p, s in reg.requests()[since:] if "/blobs/uploads/" in p]


def uploaded(reg: R.Registry, since: int) -> list[str]:
    """Digests of the blobs whose bytes were uploaded (the final PUT ...?digest=) since then."""
    out = []
    for m, p, s in uploads(reg, since):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(p).query)
        if m == "PUT" and s == 201:
            out += query.get("digest", [])
    return out


def raw_manifest(reg: R.Registry, name: str, ref: str) -> tuple[str, str, bytes]:
    status, headers, body = R.http_get(reg, f"/v2/{name}/manifests/{ref}")
    assert status == 200, (status, body)
    return headers.get("Content-Type", ""), headers.get("Docker-Content-Digest", ""), body


def oracle_forget(sock: str, *refs: str) -> None:
    for ref in refs:
        oracle_dockerd.docker(sock, "rmi", "-f", ref)


# ---------------------------------------------------------------------------------------------


def test_push_committed_image_and_dockerd_pulls_it(
    daemon: Daemon, oracle: str, tmp_path: Path
) -> None:
    """E5 (#13): a committed image pushes with dockerd's stream ("The push refers to repository
    [...]", every layer Preparing ... Pushed, top layer first, then 'TAG: digest: sha256:...
    size: N' and the aux message); the registry holds that manifest (Docker schema 2, the config
    blob is the image, each layer gunzips to its diff ID); RepoDigests gains name@digest; the
    oracle dockerd pulls it as the SAME image Id and runs it."""
    with R.registry(tmp_path) as reg:
        ref = f"{reg.host}/t/pushed:1"
        try:
            image_id = commit(daemon, ref, "echo committed > /pushed")
            diff_ids = inspect(daemon, ref)["RootFS"]["Layers"]
            assert len(diff_ids) == 2
            pushed_since = time.time()
            status, msgs = push(daemon, f"{reg.host}/t/pushed", "1")
            assert status == 200, msgs
            assert msgs[0] == {"status": f"The push refers to repository [{reg.host}/t/pushed]"}
            digest, size = final(msgs, "1")
            ids = [short(d) for d in reversed(diff_ids)]  # dockerd: the top layer first
            assert [m["id"] for m in msgs[1:3]] == ids
            assert all(m["status"] == "Preparing" for m in msgs[1:3]), msgs[1:3]
            per = layer_statuses(msgs)
            assert set(per) == set(ids)
            for lay, seen in per.items():
                assert seen[0] == "Preparing" and seen[-1] == "Pushed", (lay, seen)
                assert set(seen) <= {"Preparing", "Waiting", "Pushing", "Pushed"}, seen
                for m in msgs:
                    if m.get("id") == lay and m["status"] == "Pushing":
                        assert m["progressDetail"]["current"] > 0, m

            ctype, served, body = raw_manifest(reg, "t/pushed", "1")
            assert (ctype, served, len(body)) == (R.DOCKER_MANIFEST, digest, size)
            assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
            man = R.manifest(reg, "t/pushed:1")[2]
            assert man["config"]["digest"] == image_id
            assert [lay["mediaType"] for lay in man["layers"]] == [R.DOCKER_LAYER] * 2
            for lay, diff_id in zip(man["layers"], diff_ids, strict=True):
                data = R.blob(reg, "t/pushed", lay["digest"])
                assert len(data) == lay["size"]
                assert R.sha256(gzip.decompress(data)) == diff_id
            assert f"{reg.host}/t/pushed@{digest}" in inspect(daemon, ref)["RepoDigests"]

            pulled = oracle_dockerd.docker(oracle, "pull", ref)
            assert pulled.returncode == 0, pulled.stderr
            assert f"Digest: {digest}" in pulled.stdout.decode()
            got = oracle_dockerd.docker(oracle, "image", "inspect", "-f", "{{.Id}}", ref)
            assert got.stdout.decode().strip() == image_id
            ran = oracle_dockerd.docker(oracle, "run", "--rm", "--network", "none", ref,
                                        "cat", "/pushed")  # fmt: skip
            assert ran.returncode == 0 and ran.stdout == b"committed\n", ran.stderr
            # E6: `push` and `pull` events as dockerd's: Actor.ID the reference asked for,
            # `name` its repository; no `tag` event for the pulled or the digest reference.
            assert docker(daemon, "pull", ref).returncode == 0
            fmt = "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}"
            window = ("--since", f"{pushed_since:.6f}", "--until", f"{time.time():.6f}",
                      "--filter", "type=image", "--format", fmt)  # fmt: skip
            mine = docker(daemon, "events", *window).stdout.splitlines()
            assert mine == [f"push {ref} {reg.host}/t/pushed", f"pull {ref} {reg.host}/t/pushed"]
            theirs = oracle_dockerd.docker(oracle, "events", *window).stdout.decode()
            assert f"pull {ref} {reg.host}/t/pushed" in theirs.splitlines(), theirs
            assert "tag " not in theirs
        finally:
            oracle_forget(oracle, ref)
            forget(daemon, reg.host)


def test_push_again_layers_already_exist(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): pushing the same tag again: every layer 'Layer already exists' (checked with
    HEAD, nothing uploaded), the same digest and size."""
    with R.registry(tmp_path) as reg:
        ref = f"{reg.host}/t/twice:1"
        try:
            commit(daemon, ref, "echo twice > /twice")
            status, first = push(daemon, f"{reg.host}/t/twice", "1")
            assert status == 200
            once = final(first, "1")
            start = mark(reg)
            status, again = push(daemon, f"{reg.host}/t/twice", "1")
            assert status == 200
            assert final(again, "1") == once
            per = layer_statuses(again)
            assert len(per) == 2
            for seen in per.values():
                assert seen == ["Preparing", "Layer already exists"], per
            assert uploads(reg, start) == []
            heads = [p for m, p, s in reg.requests()[start:] if m == "HEAD" and "/blobs/" in p]
            assert len(heads) >= 2
        finally:
            forget(daemon, reg.host)


def test_push_to_second_repository_mounts_blobs(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): the same image pushed to another repository of the same registry: each layer is
    mounted across repositories (POST ...?mount=&from=, 201), not uploaded, and reported as
    dockerd does, 'Mounted from t/first' (the repository's path on that registry); same digest."""
    with R.registry(tmp_path) as reg:
        first_ref = f"{reg.host}/t/first:1"
        try:
            commit(daemon, first_ref, "echo mount > /mount")
            status, msgs = push(daemon, f"{reg.host}/t/first", "1")
            digest, _ = final(msgs, "1")
            r = docker(daemon, "tag", first_ref, f"{reg.host}/t/second:1")
            assert r.returncode == 0, r.stderr
            start = mark(reg)
            status, msgs = push(daemon, f"{reg.host}/t/second", "1")
            assert status == 200
            assert final(msgs, "1")[0] == digest
            seen = uploads(reg, start)
            mounts = [(p, s) for m, p, s in seen if m == "POST" and "mount=" in p]
            assert len(mounts) == 2 and all(s == 201 for _, s in mounts), seen
            assert all("from=t%2Ffirst" in p or "from=t/first" in p for p, _ in mounts), mounts
            layers = [lay["digest"] for lay in R.manifest(reg, "t/first:1")[2]["layers"]]
            assert not set(uploaded(reg, start)) & set(layers), seen
            assert R.manifest(reg, "t/second:1")[1] == digest
            per = layer_statuses(msgs)
            assert all(v[-1].startswith("Mounted from ") for v in per.values()), per
            assert all(v[-1] == "Mounted from t/first" for v in per.values()), per
        finally:
            forget(daemon, reg.host)


@pytest.mark.parametrize("fmt", ["v2s2", "oci"])
def test_pulled_image_pushed_back_keeps_its_digest(
    daemon: Daemon, tmp_path: Path, fmt: str
) -> None:
    """E5 (#13): an image pulled from a registry (Docker schema 2, or OCI) and pushed back under
    another tag, and to another repository, keeps the manifest digest it was pulled with: the
    registry's compressed blobs are reused (Layer already exists / Mounted), the manifest is the
    one pulled."""
    app_layout(tmp_path / "img", hello=b"round trip\n")
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/orig:1", reg, fmt=fmt)
        ctype = raw_manifest(reg, "t/orig", "1")[0]
        layers = {lay["digest"] for lay in R.manifest(reg, "t/orig:1")[2]["layers"]}
        try:
            assert pull(daemon, f"{reg.host}/t/orig", "1")[0] == 200
            for target in ("t/orig:copy", "t/elsewhere:1"):
                r = docker(daemon, "tag", f"{reg.host}/t/orig:1", f"{reg.host}/{target}")
                assert r.returncode == 0, r.stderr
                name, tag = target.split(":")
                start = mark(reg)
                status, msgs = push(daemon, f"{reg.host}/{name}", tag)
                assert status == 200
                assert final(msgs, tag)[0] == digest, msgs
                assert not set(uploaded(reg, start)) & layers, uploads(reg, start)
                got_type, served, _ = raw_manifest(reg, name, tag)
                assert (got_type, served) == (ctype, digest)
        finally:
            forget(daemon, reg.host)


def test_push_missing_tag_or_repository_as_dockerd(
    daemon: Daemon, oracle: str, tmp_path: Path
) -> None:
    """E5 (#13): pushing a repository that has no image locally, or a tag that does not exist:
    the stream says which repository, then dockerd's error ('An image does not exist locally
    with the tag: NAME' / 'tag does not exist: NAME:TAG'); the same messages as the oracle's."""
    with R.registry(tmp_path) as reg:
        present = f"{reg.host}/t/present:1"
        try:
            for tag_it in (lambda r: docker(daemon, "tag", "busybox:latest", r),
                           lambda r: oracle_dockerd.docker(oracle, "tag", "busybox:latest", r)):  # fmt: skip
                assert tag_it(present).returncode == 0
            cases = [(f"{reg.host}/t/none", "1"), (f"{reg.host}/t/present", "nope")]
            for name, tag in cases:
                status, ours = push(daemon, name, tag)
                want_status, theirs = oracle_push(oracle, name, tag)
                assert (status, ours) == (want_status, theirs), (name, tag)
            status, ours = push(daemon, f"{reg.host}/t/none", "1")
            assert ours == [
                {"status": f"The push refers to repository [{reg.host}/t/none]"},
                {
                    "errorDetail": {
                        "message": f"An image does not exist locally with the tag: {reg.host}/t/none"
                    },
                    "error": f"An image does not exist locally with the tag: {reg.host}/t/none",
                },
            ]
            assert failure(*push(daemon, f"{reg.host}/t/present", "nope")) == (
                f"tag does not exist: {reg.host}/t/present:nope"
            )
            assert json.loads(R.http_get(reg, "/v2/_catalog")[2]) == {"repositories": []}
        finally:
            oracle_forget(oracle, present)
            forget(daemon, reg.host)


def test_token_auth_push(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a push to a token-auth registry with credentials asks the token server for
    `repository:NAME:pull,push` as the user and lands; without credentials the anonymous token
    grants no push and the push fails with the registry's denial; nothing lands."""
    with R.registry(tmp_path, auth="token") as reg:
        ref = f"{reg.host}/team/pushed:1"
        try:
            assert docker(daemon, "tag", "busybox:latest", ref).returncode == 0
            reg.token_requests.clear()
            auth = xauth(reg.user, reg.password, reg.host)
            status, msgs = push(daemon, f"{reg.host}/team/pushed", "1", auth=auth)
            assert status == 200
            digest, _ = final(msgs, "1")
            assert R.manifest(reg, "team/pushed:1")[1] == digest
            asked: list[Any] = [r for r in reg.token_requests if r.scopes]
            assert asked and all(r.authenticated and r.user == reg.user for r in asked), asked
            scopes = set(reg.scopes_requested())
            assert "repository:team/pushed:pull,push" in scopes, scopes
            assert all(s.startswith("repository:team/pushed:") for s in scopes), scopes

            other = f"{reg.host}/team/anon:1"
            assert docker(daemon, "tag", "busybox:latest", other).returncode == 0
            reg.token_requests.clear()
            status, msgs = push(daemon, f"{reg.host}/team/anon", "1")
            text = failure(status, msgs)
            assert "denied" in text or "unauthorized" in text or "authentication required" in text
            assert all(r.user is None for r in reg.token_requests)
            assert "repository:team/anon:pull,push" in reg.scopes_requested(authenticated=False)
            assert R.http_get(reg, "/v2/team/anon/manifests/1", method="HEAD")[0] == 404
        finally:
            forget(daemon, reg.host)
