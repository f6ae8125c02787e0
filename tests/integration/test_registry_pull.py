"""Pulling from real registries through dockyard (E5, #13): a docker-registry (distribution 2.8)
on 127.0.0.1 per test (tests/registry.py), images published to it with skopeo, pulled through the
Engine API of the shared test daemon (`POST /images/create`), then inspected and run.

Covered: dockerd's progress stream message for message, image Id / RepoTags / RepoDigests,
re-pull, pull by digest, `pull -a`, `images --digests`, layers already present (the registry's
access log proves they are not fetched again), OCI manifests with zstd and uncompressed layers,
a two-platform OCI index and `platform=`, Basic and token auth, a TLS registry, a pull-through
mirror for docker.io names, and the faults: unknown tag or repository, registry down and a blob
whose bytes do not match its digest (nothing stored, no temp files left).

Every test uses its own repository names on its own registry (a free port) and removes what it
pulled from the shared daemon in a `finally`."""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests import registry as R
from tests.compat.cli import docker
from tests.conftest import Daemon, UnixHTTPConnection, private_daemon

pytestmark = pytest.mark.integration

Messages = list[dict[str, Any]]

# A layer's life in dockerd's pull stream, repeats collapsed (docker CLI draws its bars from it).
LAYER_STEPS = [
    "Pulling fs layer",
    "Downloading",
    "Verifying Checksum",
    "Download complete",
    "Extracting",
    "Pull complete",
]


# ---------------------------------------------------------------------------------------------
# Helpers (the push and compat tests of E5 use them too)


def call(
    d: Daemon,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
    timeout: float = 120,
) -> tuple[int, bytes]:
    """One raw Engine API request: (status, body bytes). Streams are read to the end."""
    conn = UnixHTTPConnection(str(d.socket), timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def parse_stream(raw: bytes) -> Messages:
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def xauth(user: str | None, password: str | None, server: str) -> str:
    """X-Registry-Auth as the docker CLI sends it: base64url of the JSON auth config."""
    doc = {"username": user or "", "password": password or "", "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def pull(
    d: Daemon, image: str, tag: str = "", *, platform: str = "", auth: str | None = None
) -> tuple[int, Messages]:
    """POST /images/create?fromImage=&tag=[&platform=]: (status, the stream's messages), or for
    an answer that is not a stream, (status, [the error document])."""
    query = {"fromImage": image, "tag": tag}
    if platform:
        query["platform"] = platform
    headers = {"X-Registry-Auth": auth} if auth else {}
    status, raw = call(
        d, "POST", f"/images/create?{urllib.parse.urlencode(query)}", headers=headers
    )
    if status != 200:
        return status, [json.loads(raw)]
    return status, parse_stream(raw)


def failure(status: int, msgs: Messages) -> str:
    """The error a pull ended with: the HTTP error's message or the stream's error ('' if none)."""
    if status != 200:
        return str(msgs[0].get("message", ""))
    errs = [m["error"] for m in msgs if "error" in m]
    return str(errs[-1]) if errs else ""


def inspect(d: Daemon, ref: str) -> dict[str, Any]:
    status, body = d.api("GET", f"/images/{ref}/json")
    assert status == 200, (ref, body)
    assert isinstance(body, dict)
    return body


def image_list(d: Daemon) -> list[tuple[str, list[str], list[str]]]:
    """GET /images/json?all=1 as (Id, RepoTags, RepoDigests), sorted."""
    status, body = d.api("GET", "/images/json?all=1")
    assert status == 200, body
    return sorted(
        (i["Id"], sorted(i.get("RepoTags") or []), sorted(i.get("RepoDigests") or [])) for i in body
    )


def forget(d: Daemon, host: str, *ids: str) -> None:
    """Remove (forced) every image named under `host` (a test registry's 127.0.0.1:PORT) and the
    images `ids`, so nothing a test pulled stays in the shared daemon. An image that also has
    other names (busybox:latest tagged into a test repository) only loses those under `host`."""
    status, body = d.api("GET", "/images/json?all=1")
    doomed = {i for i in ids if i}
    if status == 200:
        for img in body:
            refs = (img.get("RepoTags") or []) + (img.get("RepoDigests") or [])
            mine = [r for r in refs if r.startswith(f"{host}/")]
            if not mine:
                continue
            if len(mine) < len(refs):
                for r in mine:
                    d.api("DELETE", f"/images/{r}")
            else:
                doomed.add(img["Id"])
    for image_id in doomed:
        d.api("DELETE", f"/images/{image_id}?force=1")


def marker() -> dict[str, R.Entry]:
    """A file that makes a layer unique to one test (no layer is shared with another test's)."""
    return {"etc/dockyard-test-id": f"{secrets.token_hex(8)}\n".encode()}


def app_layout(
    dest: Path,
    *,
    base: dict[str, R.Entry] | None = None,
    hello: bytes | None = b"hello from the registry\n",
    compression: str = "gzip",
    platforms: list[tuple[str, str, str]] | None = None,
) -> str:
    """An OCI layout of a runnable image: busybox plus a unique marker in the first layer (or
    `base`, to share it between images), /hello in a second; returns the top digest."""
    layers = [base if base is not None else {**R.busybox_files(), **marker()}]
    if hello is not None:
        layers.append({"hello": hello})
    return R.oci_layout(
        dest, layers, compression=compression, platforms=platforms or [R.host_platform()]
    )


def blob_gets(reg: R.Registry, digest: str | None = None, *, since: int = 0) -> list[str]:
    """Paths of the blob GETs the registry answered with 200 (optionally only for `digest`),
    from its `since`-th logged request on (skopeo's own requests come before a test's mark)."""
    return [
        p
        for m, p, status in reg.requests()[since:]
        if m == "GET" and "/blobs/" in p and status == 200 and (digest is None or digest in p)
    ]


def mark(reg: R.Registry) -> int:
    """How many requests the registry has logged so far (for `blob_gets(since=...)`)."""
    return len(reg.requests())


def in_order(wanted: list[str], seq: list[str]) -> bool:
    """Is `wanted` a subsequence of `seq`?"""
    it = iter(seq)
    return all(any(s == w for s in it) for w in wanted)


def assert_layer_steps(seq: list[str]) -> None:
    """A downloaded layer's statuses: dockerd's steps in dockerd's order (dockyard also reports
    Extracting while the download runs: that is left to the strict test of the order)."""
    assert seq[0] == "Pulling fs layer" and seq[-2:] == ["Extracting", "Pull complete"], seq
    assert in_order(LAYER_STEPS, seq), seq


def by_layer(msgs: Messages) -> dict[str, list[str]]:
    """Each layer's statuses in order, repeats collapsed (layer messages carry progressDetail)."""
    out: dict[str, list[str]] = {}
    for m in msgs:
        if "id" in m and "progressDetail" in m:
            seq = out.setdefault(m["id"], [])
            if not seq or seq[-1] != m["status"]:
                seq.append(m["status"])
    return out


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def tmp_entries(d: Daemon) -> set[str]:
    """What is in the daemon's temp dir (config.py: data_root/tmp)."""
    tmp = d.data_root / "tmp"
    return {p.name for p in tmp.iterdir()} if tmp.exists() else set()


def layer_dirs(d: Daemon) -> set[str]:
    """The overlay2 layer directories (every layer of every image and container)."""
    return {p.name for p in (d.data_root / "overlay2").iterdir() if p.name not in ("l", ".trash")}


def content_blobs(d: Daemon) -> set[str]:
    return {p.name for p in (d.data_root / "content" / "sha256").iterdir()}


def blob_file(reg: R.Registry, digest: str) -> Path:
    hexd = digest.removeprefix("sha256:")
    return reg.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def run_out(d: Daemon, ref: str, *cmd: str) -> str:
    r = docker(d, "run", "--rm", "--network", "none", ref, *cmd)
    assert r.returncode == 0, r.stderr
    return r.stdout


# ---------------------------------------------------------------------------------------------
# Pull from an open registry


def test_pull_progress_stream_inspect_and_run(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a two-layer Docker schema 2 image pulls with dockerd's progress stream (every
    layer: Pulling fs layer, Downloading with current/total, Verifying Checksum, Download
    complete, Extracting, Pull complete; then Digest and Status), inspects with Id = the config
    digest, RepoTags and RepoDigests `name@<manifest digest>`, and runs. The stream starts as
    dockerd's: 'Pulling from t/app' (the repository's path on its registry), the tag as id."""
    app_layout(tmp_path / "img")
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/app:1", reg, fmt="v2s2")
        _, _, man = R.manifest(reg, "t/app:1")
        ref = f"{reg.host}/t/app:1"
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/app", "1")
            assert status == 200, msgs
            assert failure(status, msgs) == "", msgs
            layers = [short(lay["digest"]) for lay in man["layers"]]
            steps = by_layer(msgs)
            assert set(steps) == set(layers), steps
            for lay in layers:
                assert_layer_steps(steps[lay])
            for lay, desc in zip(layers, man["layers"], strict=True):
                down = [m for m in msgs if m.get("id") == lay and m["status"] == "Downloading"]
                for m in down:
                    detail = m["progressDetail"]
                    assert 0 < detail["current"] <= detail["total"] == desc["size"], m
                    assert m["progress"].startswith("["), m
                ext = [m for m in msgs if m.get("id") == lay and m["status"] == "Extracting"]
                assert ext[-1]["progressDetail"]["current"] <= ext[-1]["progressDetail"]["total"]
            # Layers are extracted bottom first: the base is complete before the top extracts.
            index = {(m.get("id"), m["status"]): i for i, m in reversed(list(enumerate(msgs)))}
            assert index[(layers[0], "Pull complete")] < index[(layers[1], "Extracting")]
            assert msgs[-2:] == [
                {"status": f"Digest: {digest}"},
                {"status": f"Status: Downloaded newer image for {ref}"},
            ]

            got = inspect(daemon, ref)
            assert got["Id"] == man["config"]["digest"]
            assert got["RepoTags"] == [ref]
            assert got["RepoDigests"] == [f"{reg.host}/t/app@{digest}"]
            assert (got["Os"], got["Architecture"]) == ("linux", "amd64")
            cfg = json.loads(R.blob(reg, "t/app", man["config"]["digest"]))
            assert got["RootFS"]["Layers"] == cfg["rootfs"]["diff_ids"]
            assert got["Config"]["Cmd"] == ["sh"]
            assert run_out(daemon, ref, "cat", "/hello") == "hello from the registry\n"
            assert run_out(daemon, ref, "sh", "-c", "echo $PATH") == (
                R.DEFAULT_ENV.removeprefix("PATH=") + "\n"
            )
            # dockerd names the repository as the registry knows it: "Pulling from t/app".
            assert msgs[0] == {"status": "Pulling from t/app", "id": "1"}, msgs[0]
        finally:
            forget(daemon, reg.host)


def test_pull_again_is_up_to_date(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a second pull of the same tag downloads no layer (no layer blob GET at the
    registry, no Downloading, at most 'Already exists') and ends with 'Status: Image is up to
    date for ...'; the image is unchanged."""
    app_layout(tmp_path / "img")
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/again:1", reg, fmt="v2s2")
        ref = f"{reg.host}/t/again:1"
        try:
            start = mark(reg)
            assert pull(daemon, f"{reg.host}/t/again", "1")[0] == 200
            before_id = inspect(daemon, ref)["Id"]
            assert len(blob_gets(reg, since=start)) == 3  # config and two layers
            layers = [lay["digest"] for lay in R.manifest(reg, "t/again:1")[2]["layers"]]
            again = mark(reg)
            status, msgs = pull(daemon, f"{reg.host}/t/again", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            assert [p for p in blob_gets(reg, since=again) if p.rpartition("/")[2] in layers] == []
            statuses = [m["status"] for m in msgs]
            assert not {"Pulling fs layer", "Downloading", "Extracting"} & set(statuses), msgs
            assert set(statuses[1:-2]) <= {"Already exists"}, msgs
            assert msgs[-2:] == [
                {"status": f"Digest: {digest}"},
                {"status": f"Status: Image is up to date for {ref}"},
            ]
            assert inspect(daemon, ref)["Id"] == before_id
        finally:
            forget(daemon, reg.host)


def test_pull_by_digest(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): `fromImage=NAME&tag=sha256:...` pulls that manifest: no tag is made, RepoDigests
    holds name@digest, the image resolves by name@digest and runs."""
    app_layout(tmp_path / "img", hello=b"by digest\n")
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/bydigest:1", reg, fmt="v2s2")
        config = R.manifest(reg, "t/bydigest:1")[2]["config"]["digest"]
        pinned = f"{reg.host}/t/bydigest@{digest}"
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/bydigest", digest)
            assert status == 200 and failure(status, msgs) == "", msgs
            assert msgs[-1] == {"status": f"Status: Downloaded newer image for {pinned}"}
            assert {"status": f"Digest: {digest}"} in msgs
            got = inspect(daemon, pinned)
            assert got["Id"] == config
            assert got["RepoTags"] == []
            assert got["RepoDigests"] == [pinned]
            assert run_out(daemon, pinned, "cat", "/hello") == "by digest\n"
            # A digest the registry does not have: the manifest is unknown.
            other = "sha256:" + "0" * 64
            status, msgs = pull(daemon, f"{reg.host}/t/bydigest", other)
            assert status == 404, msgs
            assert failure(status, msgs).startswith(
                f"manifest for {reg.host}/t/bydigest@{other} not found: manifest unknown"
            )
        finally:
            forget(daemon, reg.host)


def test_images_digests_through_the_docker_cli(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): `docker images --digests` shows the manifest digest of a pulled tag, and
    `<none>` for an image that was never pulled (busybox, made offline)."""
    app_layout(tmp_path / "img")
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/digests:7", reg, fmt="v2s2")
        try:
            assert pull(daemon, f"{reg.host}/t/digests", "7")[0] == 200
            fmt = "{{.Repository}} {{.Tag}} {{.Digest}}"
            r = docker(daemon, "images", "--digests", "--format", fmt, f"{reg.host}/t/digests")
            assert r.returncode == 0, r.stderr
            assert r.stdout == f"{reg.host}/t/digests 7 {digest}\n"
            r = docker(daemon, "images", "--digests", "--format", fmt, "busybox:latest")
            assert r.stdout == "busybox latest <none>\n", r.stdout
            table = docker(daemon, "images", "--digests", f"{reg.host}/t/digests")
            head, row = table.stdout.splitlines()
            assert head.split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
            assert row.split()[:3] == [f"{reg.host}/t/digests", "7", digest]
        finally:
            forget(daemon, reg.host)


def test_pull_all_tags(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): an empty tag (`docker pull -a`) pulls every tag of the repository; each tag's
    section starts with 'Pulling from' and the stream ends with one Status for the repository."""
    base = {**R.busybox_files(), **marker()}
    app_layout(tmp_path / "one", base=base, hello=b"one\n")
    app_layout(tmp_path / "two", base=base, hello=b"two\n")
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "one", "t/all:1", reg, fmt="v2s2")
        R.skopeo_push(tmp_path / "one", "t/all:same", reg, fmt="v2s2")
        R.skopeo_push(tmp_path / "two", "t/all:2", reg, fmt="v2s2")
        configs = {
            tag: R.manifest(reg, f"t/all:{tag}")[2]["config"]["digest"]
            for tag in ("1", "2", "same")
        }
        start = mark(reg)
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/all", "")
            assert status == 200 and failure(status, msgs) == "", msgs
            sections = sorted(m["id"] for m in msgs if m["status"].startswith("Pulling from"))
            assert sections == ["1", "2", "same"]
            assert msgs[-1] == {"status": f"Status: Downloaded newer image for {reg.host}/t/all"}
            for tag, config in configs.items():
                assert inspect(daemon, f"{reg.host}/t/all:{tag}")["Id"] == config
            assert run_out(daemon, f"{reg.host}/t/all:2", "cat", "/hello") == "two\n"
            # The shared base went down once for the three tags.
            base_digest = R.manifest(reg, "t/all:1")[2]["layers"][0]["digest"]
            assert len(blob_gets(reg, base_digest, since=start)) == 1
        finally:
            forget(daemon, reg.host)


def test_present_layers_are_not_downloaded_again(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): an image whose base layer is already in the store (from another image) shows
    'Already exists' for it; the registry's access log proves the base blob was fetched once."""
    base = {**R.busybox_files(), **marker()}
    app_layout(tmp_path / "a", base=base, hello=b"a\n")
    app_layout(tmp_path / "b", base=base, hello=b"b\n")
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "a", "t/a:1", reg, fmt="v2s2")
        R.skopeo_push(tmp_path / "b", "t/b:1", reg, fmt="v2s2")
        man_a, man_b = (R.manifest(reg, f"t/{n}:1")[2] for n in ("a", "b"))
        base_digest = man_a["layers"][0]["digest"]
        assert man_b["layers"][0]["digest"] == base_digest
        start = mark(reg)
        try:
            assert pull(daemon, f"{reg.host}/t/a", "1")[0] == 200
            assert len(blob_gets(reg, base_digest, since=start)) == 1
            second = mark(reg)
            status, msgs = pull(daemon, f"{reg.host}/t/b", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            steps = by_layer(msgs)
            assert steps[short(base_digest)] == ["Already exists"], steps
            assert_layer_steps(steps[short(man_b["layers"][1]["digest"])])
            assert blob_gets(reg, base_digest, since=second) == [], blob_gets(reg, since=second)
            assert len(blob_gets(reg, man_b["layers"][1]["digest"], since=second)) == 1
            got_a, got_b = (inspect(daemon, f"{reg.host}/t/{n}:1") for n in ("a", "b"))
            assert got_a["RootFS"]["Layers"][0] == got_b["RootFS"]["Layers"][0]
            assert run_out(daemon, f"{reg.host}/t/b:1", "cat", "/hello") == "b\n"
        finally:
            forget(daemon, reg.host)


def test_layer_messages_keep_dockerd_order_for_a_large_layer(
    daemon: Daemon, tmp_path: Path
) -> None:
    """E5 (#13): dockerd's stream, message for message: a layer reports Extracting only after
    its Download complete (the docker CLI draws one line per layer: the line must not go back
    from Extracting to Downloading). The base layer carries 8 MiB of incompressible data, so its
    download takes several reads; an extraction that runs while the download does (which #13
    asks for) must not report before the download is complete."""
    base = {**R.busybox_files(), **marker(), "big": os.urandom(8 << 20)}
    app_layout(tmp_path / "img", base=base)
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/big:1", reg, fmt="v2s2")
        man = R.manifest(reg, "t/big:1")[2]
        big = short(man["layers"][0]["digest"])
        assert man["layers"][0]["size"] > 8 << 20
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/big", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            steps = by_layer(msgs)
            assert_layer_steps(steps[big])
            assert steps[big] == LAYER_STEPS, steps[big]
            assert (
                run_out(daemon, f"{reg.host}/t/big:1", "busybox", "wc", "-c", "/big")
                == f"{8 << 20} /big\n"
            )
        finally:
            forget(daemon, reg.host)


# ---------------------------------------------------------------------------------------------
# Manifest kinds, compression, platforms


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_oci_manifest_zstd_and_uncompressed_layers(
    daemon: Daemon, tmp_path: Path, compression: str
) -> None:
    """E5 (#13): an OCI manifest (kept as published, --preserve-digests) whose layers are zstd or
    uncompressed pulls, each layer checked against its diff ID, and runs; RepoDigests names the
    OCI manifest's digest."""
    digest = app_layout(
        tmp_path / "img", compression=compression, hello=f"{compression}\n".encode()
    )
    with R.registry(tmp_path) as reg:
        assert R.skopeo_push(tmp_path / "img", "t/oci:1", reg, fmt="oci") == digest
        ctype, _, man = R.manifest(reg, "t/oci:1")
        assert ctype == R.OCI_MANIFEST
        assert {lay["mediaType"] for lay in man["layers"]} == {R.OCI_LAYER[compression]}
        ref = f"{reg.host}/t/oci:1"
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/oci", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            for lay in man["layers"]:
                assert by_layer(msgs)[short(lay["digest"])][-1] == "Pull complete"
            got = inspect(daemon, ref)
            assert got["Id"] == man["config"]["digest"]
            assert got["RepoDigests"] == [f"{reg.host}/t/oci@{digest}"]
            assert run_out(daemon, ref, "cat", "/hello") == f"{compression}\n"
        finally:
            forget(daemon, reg.host)


def test_two_platform_index(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): an OCI index with linux/amd64 and linux/arm64/v8: amd64 by default (this host),
    arm64 with platform=linux/arm64; the tag's RepoDigest and the stream's 'Digest:' line are
    the index's digest (what the tag points at), as dockerd; linux/s390x is not in the index:
    dockerd's 'no matching manifest for linux/s390x in the manifest list entries'."""
    plats = [("linux", "amd64", ""), ("linux", "arm64", "v8")]
    index_digest = app_layout(tmp_path / "multi", platforms=plats, hello=b"multi\n")
    with R.registry(tmp_path) as reg:
        assert R.skopeo_push(tmp_path / "multi", "t/multi:1", reg) == index_digest
        index = R.manifest(reg, "t/multi:1")[2]
        configs = {}
        for entry in index["manifests"]:
            man = R.manifest(reg, f"t/multi@{entry['digest']}")[2]
            configs[entry["platform"]["architecture"]] = man["config"]["digest"]
        ref = f"{reg.host}/t/multi:1"
        ids: list[str] = []
        try:
            status, default = pull(daemon, f"{reg.host}/t/multi", "1")
            assert status == 200 and failure(status, default) == "", default
            got = inspect(daemon, ref)
            ids.append(got["Id"])
            assert (got["Os"], got["Architecture"]) == ("linux", "amd64")
            assert got["Id"] == configs["amd64"]
            assert got["RepoDigests"] == [f"{reg.host}/t/multi@{index_digest}"]
            assert run_out(daemon, ref, "cat", "/hello") == "multi\n"

            status, arm = pull(daemon, f"{reg.host}/t/multi", "1", platform="linux/arm64")
            assert status == 200 and failure(status, arm) == "", arm
            got = inspect(daemon, ref)
            ids.append(got["Id"])
            assert (got["Architecture"], got.get("Variant")) == ("arm64", "v8")
            assert got["Id"] == configs["arm64"]

            status, msgs = pull(daemon, f"{reg.host}/t/multi", "1", platform="linux/s390x")
            assert failure(status, msgs) == (
                "no matching manifest for linux/s390x in the manifest list entries"
            ), msgs
            assert inspect(daemon, ref)["Id"] == configs["arm64"]  # the tag did not move

            digests = [m["status"] for m in default + arm if m["status"].startswith("Digest:")]
            assert digests == [f"Digest: {index_digest}"] * 2
        finally:
            forget(daemon, reg.host, *ids)


def test_kept_manifests_go_with_the_last_digest_reference(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a pull keeps the index and the manifest it came as (a push back keeps the
    digest); pulled into two repositories, they stay while either one's RepoDigests names them,
    and go with the last: after both rmi the content store holds what it held before."""
    plats = [("linux", "amd64", ""), ("linux", "arm64", "v8")]
    index_digest = app_layout(tmp_path / "multi", platforms=plats, hello=b"kept\n")
    with R.registry(tmp_path) as reg:
        for repo in ("t/one", "t/two"):
            R.skopeo_push(tmp_path / "multi", f"{repo}:1", reg)
        amd64 = next(
            e["digest"]
            for e in R.manifest(reg, "t/one:1")[2]["manifests"]
            if e["platform"]["architecture"] == "amd64"
        )
        before = content_blobs(daemon)
        try:
            for repo in ("t/one", "t/two"):
                status, msgs = pull(daemon, f"{reg.host}/{repo}", "1")
                assert failure(status, msgs) == "", msgs
            kept = {d.removeprefix("sha256:") for d in (index_digest, amd64)}
            assert kept <= content_blobs(daemon) - before
            r = docker(daemon, "rmi", f"{reg.host}/t/one:1")
            assert r.returncode == 0 and "Deleted" not in r.stdout, r
            assert inspect(daemon, f"{reg.host}/t/two:1")["RepoDigests"] == [
                f"{reg.host}/t/two@{index_digest}"
            ]
            assert kept <= content_blobs(daemon) - before
            r = docker(daemon, "rmi", f"{reg.host}/t/two:1")
            assert r.returncode == 0 and "Deleted: " in r.stdout, r
            assert content_blobs(daemon) == before
        finally:
            forget(daemon, reg.host)


# ---------------------------------------------------------------------------------------------
# Authentication and transport


def test_basic_auth_pull(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): from a Basic-auth registry a pull without credentials (or with a wrong
    password) fails and stores nothing; with X-Registry-Auth (base64url JSON username, password,
    serveraddress) it pulls and runs."""
    app_layout(tmp_path / "img", hello=b"basic\n")
    with R.registry(tmp_path, auth="basic") as reg:
        R.skopeo_push(tmp_path / "img", "t/private:1", reg, fmt="v2s2")
        config = R.manifest(reg, "t/private:1")[2]["config"]["digest"]
        ref = f"{reg.host}/t/private:1"
        before = image_list(daemon)
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/private", "1")
            text = failure(status, msgs)
            assert status >= 400 or text, msgs
            assert "no basic auth credentials" in text or "authentication required" in text, text
            status, msgs = pull(
                daemon, f"{reg.host}/t/private", "1", auth=xauth(reg.user, "wrong", reg.host)
            )
            text = failure(status, msgs)
            assert "unauthorized" in text or "authentication required" in text, text
            assert image_list(daemon) == before
            status, msgs = pull(
                daemon, f"{reg.host}/t/private", "1", auth=xauth(reg.user, reg.password, reg.host)
            )
            assert status == 200 and failure(status, msgs) == "", msgs
            assert inspect(daemon, ref)["Id"] == config
            assert run_out(daemon, ref, "cat", "/hello") == "basic\n"
        finally:
            forget(daemon, reg.host)


def test_basic_auth_login(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): POST /auth checks credentials against the registry: right ones answer 200
    {"Status": "Login Succeeded"}; a wrong password or an unknown user is refused in dockerd
    20.10's words and status (500: "login attempt to ... failed with status: 401 ...")."""
    with R.registry(tmp_path, auth="basic") as reg:
        good = {"username": reg.user, "password": reg.password, "serveraddress": reg.host}
        status, body = daemon.api("POST", "/auth", good)
        assert status == 200, body
        assert body["Status"] == "Login Succeeded"
        assert body.get("IdentityToken", "") == ""
        refused = f"login attempt to http://{reg.host}/v2/ failed with status: 401 Unauthorized"
        for bad in ({**good, "password": "wrong"}, {**good, "username": "nobody"}):
            status, body = daemon.api("POST", "/auth", bad)
            assert (status, body["message"]) == (500, refused), body
        # The registry really was asked each time (Basic: /v2/ with the credentials).
        v2 = [s for m, p, s in reg.requests() if m == "GET" and p == "/v2/"]
        assert 200 in v2 and v2.count(401) >= 2, v2


def test_token_auth_pull(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): against a registry with Docker's token auth, a pull with credentials gets a
    token for `repository:NAME:pull` (as the user) and succeeds; an anonymous pull of public/x
    gets an anonymous pull token and succeeds."""
    app_layout(tmp_path / "img", hello=b"token\n")
    with R.registry(tmp_path, auth="token") as reg:
        R.skopeo_push(tmp_path / "img", "team/app:1", reg, fmt="v2s2")
        R.skopeo_push(tmp_path / "img", "public/x:1", reg, fmt="v2s2")
        config = R.manifest(reg, "team/app:1")[2]["config"]["digest"]
        try:
            reg.token_requests.clear()
            auth = xauth(reg.user, reg.password, reg.host)
            status, msgs = pull(daemon, f"{reg.host}/team/app", "1", auth=auth)
            assert status == 200 and failure(status, msgs) == "", msgs
            assert inspect(daemon, f"{reg.host}/team/app:1")["Id"] == config
            asked = reg.token_requests
            assert asked and all(r.user == reg.user and r.authenticated for r in asked), asked
            assert set(reg.scopes_requested()) == {"repository:team/app:pull"}, asked
            assert all(r.status == 200 for r in asked)

            reg.token_requests.clear()
            status, msgs = pull(daemon, f"{reg.host}/public/x", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            assert run_out(daemon, f"{reg.host}/public/x:1", "cat", "/hello") == "token\n"
            assert reg.token_requests and all(r.user is None for r in reg.token_requests)
            assert set(reg.scopes_requested(authenticated=False)) == {"repository:public/x:pull"}
            assert reg.scopes_requested(authenticated=True) == []
        finally:
            forget(daemon, reg.host)


def test_token_auth_one_clients_token_is_not_anothers(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a token is the credentials of the request it was fetched for: after a pull with
    the registry user's credentials, an anonymous pull of the same private repository (no
    X-Registry-Auth: anyone who can reach the daemon's socket), or one with a wrong password,
    must not ride on the user's token; it fails (the anonymous token grants nothing there) and
    stores nothing. dockerd fetches tokens per pull, with that pull's credentials."""
    app_layout(tmp_path / "img", hello=b"private\n")
    with R.registry(tmp_path, auth="token") as reg:
        R.skopeo_push(tmp_path / "img", "team/secret:1", reg, fmt="v2s2")
        try:
            auth = xauth(reg.user, reg.password, reg.host)
            status, msgs = pull(daemon, f"{reg.host}/team/secret", "1", auth=auth)
            assert status == 200 and failure(status, msgs) == "", msgs
            forget(daemon, reg.host)
            before = image_list(daemon)
            for who in (None, xauth(reg.user, "wrong", reg.host)):
                reg.token_requests.clear()
                status, msgs = pull(daemon, f"{reg.host}/team/secret", "1", auth=who)
                assert failure(status, msgs), (who, msgs)
                assert image_list(daemon) == before
                assert reg.token_requests, "no token was asked for this pull's credentials"
        finally:
            forget(daemon, reg.host)


def test_tls_registry_at_loopback(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a registry that speaks only HTTPS (certificate from a test CA) on 127.0.0.1
    pulls: 127.0.0.0/8 is an insecure registry by default, as in dockerd, so the certificate is
    not verified. (Verification itself, certs.d and client certificates are proven in
    test_registry_tls.py, on an address of the test's own and a daemon's --registry-certs-dir.)"""
    app_layout(tmp_path / "img", hello=b"tls\n")
    with R.registry(tmp_path, tls=True) as reg:
        assert reg.url.startswith("https://")
        R.skopeo_push(tmp_path / "img", "t/tls:1", reg, fmt="v2s2")
        config = R.manifest(reg, "t/tls:1")[2]["config"]["digest"]
        start = mark(reg)
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/tls", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            assert inspect(daemon, f"{reg.host}/t/tls:1")["Id"] == config
            # The registry answered the manifest and blobs over TLS (plain HTTP gets a 400).
            served = [(m, p) for m, p, s in reg.requests()[start:] if s == 200]
            assert ("HEAD", "/v2/t/tls/manifests/1") in served  # the tag, resolved as dockerd
            assert len(blob_gets(reg, since=start)) == 3
        finally:
            forget(daemon, reg.host)


def test_registry_mirror_for_docker_io_names(tmp_path: Path) -> None:
    """E5 (#13): a daemon started with --registry-mirror pulls a docker.io name (busybox:TAG,
    i.e. library/busybox) through the mirror, a pull-through cache of an origin registry; Docker
    Hub itself is a closed local port for test daemons, so only the mirror can serve it."""
    tag = "mirror-" + secrets.token_hex(3)
    app_layout(tmp_path / "img", hello=b"mirrored\n")
    with R.registry(tmp_path) as origin:
        digest = R.skopeo_push(tmp_path / "img", f"library/busybox:{tag}", origin, fmt="v2s2")
        config = R.manifest(origin, f"library/busybox:{tag}")[2]["config"]["digest"]
        with (
            R.registry(tmp_path, proxy_of=origin.url) as mirror,
            private_daemon("-rm", f"dym{os.getpid()}", "--registry-mirror", mirror.url) as d,
        ):
            status, msgs = pull(d, "busybox", tag)
            assert status == 200 and failure(status, msgs) == "", msgs
            assert msgs[-1] == {"status": f"Status: Downloaded newer image for busybox:{tag}"}
            got = inspect(d, f"busybox:{tag}")
            assert got["Id"] == config
            assert got["RepoTags"] == [f"busybox:{tag}"]
            assert got["RepoDigests"] == [f"busybox@{digest}"]
            assert run_out(d, f"busybox:{tag}", "cat", "/hello") == "mirrored\n"
            through = [(m, p) for m, p, s in mirror.requests() if s == 200]
            assert ("HEAD", f"/v2/library/busybox/manifests/{tag}") in through
            assert len(blob_gets(mirror)) == 3
            origin_got = [(m, p) for m, p, s in origin.requests() if s == 200]
            assert any(p == f"/v2/library/busybox/manifests/{tag}" for _, p in origin_got)
            # dockerd: "Pulling from library/busybox".
            assert msgs[0] == {"status": "Pulling from library/busybox", "id": tag}, msgs[0]


# ---------------------------------------------------------------------------------------------
# Faults


def test_unknown_tag_is_404_manifest_unknown(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a tag the registry does not have: 404 'manifest for NAME:TAG not found:
    manifest unknown: ...', as dockerd; nothing stored."""
    app_layout(tmp_path / "img")
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/app:1", reg, fmt="v2s2")
        before = image_list(daemon)
        status, msgs = pull(daemon, f"{reg.host}/t/app", "nope")
        assert status == 404, msgs
        assert failure(status, msgs) == (
            f"manifest for {reg.host}/t/app:nope not found: manifest unknown: manifest unknown"
        )
        assert image_list(daemon) == before


def test_unknown_repository_is_404(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): a repository the registry does not have: 404 with dockerd's words (distribution
    answers MANIFEST_UNKNOWN for it, so 'manifest for NAME:TAG not found: ...'); nothing stored."""
    with R.registry(tmp_path) as reg:
        before = image_list(daemon)
        status, msgs = pull(daemon, f"{reg.host}/t/nothing", "latest")
        assert status == 404, msgs
        assert failure(status, msgs) == (
            f"manifest for {reg.host}/t/nothing:latest not found: manifest unknown: "
            "manifest unknown"
        )
        assert ("GET", "/v2/t/nothing/manifests/latest") in [(m, p) for m, p, _ in reg.requests()]
        assert image_list(daemon) == before


def test_registry_down_is_connection_refused(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): the registry stopped (its port closed): the pull fails with the dial error
    ('connect: connection refused', status 500 as dockerd), nothing stored, no temp files."""
    app_layout(tmp_path / "img")
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/app:1", reg, fmt="v2s2")
        reg.stop()
        before, tmp_before = image_list(daemon), tmp_entries(daemon)
        status, msgs = pull(daemon, f"{reg.host}/t/app", "1")
        text = failure(status, msgs)
        assert status == 500, msgs
        assert f"dial tcp {reg.host}: connect: connection refused" in text, text
        assert image_list(daemon) == before
        assert tmp_entries(daemon) == tmp_before


def test_corrupt_blob_fails_verification_and_leaves_nothing(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): the registry serves the top layer with other bytes than its digest (the same tar
    gzipped with another header mtime: same size, same diff ID, so only the blob's digest check
    can notice): the pull fails with dockerd's 'filesystem layer verification failed for digest
    ...', and no image, layer, kept blob or temp file is left (the base layer, which downloaded
    and extracted fine, is dropped too)."""
    hello = {"hello": b"corrupt me\n"}
    app_layout(tmp_path / "img", hello=hello["hello"])
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/bad:1", reg, fmt="v2s2")
        man = R.manifest(reg, "t/bad:1")[2]
        top = man["layers"][1]["digest"]
        data = blob_file(reg, top)
        original = data.read_bytes()
        assert gzip.decompress(original) == R.layer_tar(hello)
        forged = gzip.compress(R.layer_tar(hello), mtime=1)
        assert len(forged) == len(original) and R.sha256(forged) != top
        data.write_bytes(forged)

        before = image_list(daemon)
        cli_before = docker(daemon, "images", "-a", "--format", "{{.ID}} {{.Repository}}")
        layers_before, blobs_before = layer_dirs(daemon), content_blobs(daemon)
        tmp_before = tmp_entries(daemon)
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/bad", "1")
            assert failure(status, msgs) == f"filesystem layer verification failed for digest {top}"
            assert not any(m.get("status") == "Pull complete" and m.get("id") == short(top)
                           for m in msgs)  # fmt: skip
            assert image_list(daemon) == before
            cli_after = docker(daemon, "images", "-a", "--format", "{{.ID}} {{.Repository}}")
            assert cli_after.stdout == cli_before.stdout
            assert layer_dirs(daemon) == layers_before
            assert tmp_entries(daemon) == tmp_before
            assert content_blobs(daemon) == blobs_before
        finally:
            forget(daemon, reg.host)
