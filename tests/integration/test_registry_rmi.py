"""E5 (#13): what a pulled image leaves in the content store when it is removed. A pull keeps the
manifest (and the index it was chosen from) beside the config and the compressed layer blobs;
`rmi` of the image takes them all, and a name that still needs one keeps it: another tag in the
same repository keeps everything, a tag in another repository keeps the image (config, layer
blobs) but not the manifests (no RepoDigest names them any more). The kill -9 case is in
test_registry_crash.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import registry as R
from tests.conftest import Daemon
from tests.integration.test_registry_pull import (
    app_layout,
    content_blobs,
    failure,
    forget,
    inspect,
    pull,
    run_out,
)

pytestmark = pytest.mark.integration

OTHER_PLATFORM = ("linux", "s390x", "")  # never this machine's: the index lists two


def hexes(*digests: str) -> set[str]:
    """Content store file names of these digests."""
    return {d.removeprefix("sha256:") for d in digests}


def pulled_blobs(reg: R.Registry, ref: str) -> tuple[set[str], set[str]]:
    """What a pull of `ref` (an index) keeps: (the index and this platform's manifest, the
    config and the compressed layer blobs), as content store file names."""
    _, index_digest, index = R.manifest(reg, ref)
    entry = next(m for m in index["manifests"] if m["platform"]["architecture"] != "s390x")
    man = R.manifest(reg, f"{ref.split(':')[0]}@{entry['digest']}")[2]
    image = [man["config"]["digest"], *(lay["digest"] for lay in man["layers"])]
    return hexes(index_digest, entry["digest"]), hexes(*image)


def test_rmi_takes_the_manifests_config_and_layer_blobs(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): an image pulled through a two-platform index leaves the index, its manifest,
    the config and both layer blobs in the content store; `rmi` of its tag takes every one of
    them, and the store is as before the pull."""
    app_layout(tmp_path / "img", platforms=[R.host_platform(), OTHER_PLATFORM])
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/gone:1", reg)
        manifests, image = pulled_blobs(reg, "t/gone:1")
        before = content_blobs(daemon)
        try:
            status, msgs = pull(daemon, f"{reg.host}/t/gone", "1")
            assert failure(status, msgs) == "", msgs
            assert manifests | image <= content_blobs(daemon)
            status, _ = daemon.api("DELETE", f"/images/{reg.host}/t/gone:1")
            assert status == 200
            assert content_blobs(daemon) & (manifests | image) == set()
            assert content_blobs(daemon) == before
        finally:
            forget(daemon, reg.host)


def test_names_left_keep_what_they_need(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): one image pulled as t/two:1 and t/two:2 (one index): `rmi t/two:1` keeps every
    blob (t/two:2 and its RepoDigest still name them) and the image runs. Tagged into another
    repository, `rmi t/two:2` drops the repository's digest reference, so the index and manifest
    go, while the config and layer blobs stay with the image, which still runs; removing the
    last name takes the rest."""
    app_layout(tmp_path / "img", platforms=[R.host_platform(), OTHER_PLATFORM])
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/two:1", reg)
        R.skopeo_push(tmp_path / "img", "t/two:2", reg)
        manifests, image = pulled_blobs(reg, "t/two:1")
        before = content_blobs(daemon)
        name = f"{reg.host}/t/two"
        other = f"{reg.host}/elsewhere/two:1"
        try:
            for tag in ("1", "2"):
                status, msgs = pull(daemon, name, tag)
                assert failure(status, msgs) == "", msgs
            assert daemon.api("DELETE", f"/images/{name}:1")[0] == 200
            assert manifests | image <= content_blobs(daemon)
            assert run_out(daemon, f"{name}:2", "cat", "/hello") == "hello from the registry\n"

            status, _ = daemon.api(
                "POST", f"/images/{name}:2/tag?repo={reg.host}/elsewhere/two&tag=1"
            )
            assert status == 201
            assert daemon.api("DELETE", f"/images/{name}:2")[0] == 200
            assert inspect(daemon, other)["RepoDigests"] == []
            assert content_blobs(daemon) & manifests == set()
            assert image <= content_blobs(daemon)
            assert run_out(daemon, other, "cat", "/hello") == "hello from the registry\n"

            assert daemon.api("DELETE", f"/images/{other}")[0] == 200
            assert content_blobs(daemon) == before
        finally:
            forget(daemon, reg.host)
