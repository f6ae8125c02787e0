"""docker-py's build options as dockerd's legacy builder reads them (#16, E1): `cache_from`
limits the cache to those images, and a Dockerfile or .dockerignore that .dockerignore excludes
leaves the context after it is read (docker-py sends an out-of-context Dockerfile so)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.fixture
def api(daemon: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=daemon.host, version="1.41", timeout=120)
    try:
        yield client
    finally:
        client.close()


def _cache_hits(api: docker.APIClient, script: bytes, tag: str, cache_from: list[str]) -> int:
    chunks = api.build(fileobj=io.BytesIO(script), tag=tag, cache_from=cache_from, decode=True)
    return sum("Using cache" in c.get("stream", "") for c in chunks)


def test_build_cache_from(api: docker.APIClient) -> None:
    script = b"FROM busybox\nENV FOO=cachefrom\nRUN touch baz\nRUN touch bax\n"
    try:
        _cache_hits(api, script, "dpy-cache1", [])
        assert _cache_hits(api, script, "dpy-cache2", ["dpy-cache1"]) == 3
        api.remove_image("dpy-cache2")
        assert _cache_hits(api, script, "dpy-cache2", ["nosuchtag"]) == 0
        with pytest.raises(docker.errors.APIError) as exc:
            api._result(api._post(api._url("/build"), params={"cachefrom": "[1"}, data=b""))
        assert exc.value.status_code == 500
    finally:
        for tag in ("dpy-cache1", "dpy-cache2"):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_image(tag)


def test_build_out_of_context_dockerfile(api: docker.APIClient, tmp_path: Path) -> None:
    ctx, df_dir = tmp_path / "ctx", tmp_path / "df"
    ctx.mkdir()
    df_dir.mkdir()
    (ctx / "file.txt").write_text("hello world")
    (ctx / ".dockerignore").write_text(".dockerignore\n")
    (df_dir / "Dockerfile").write_text("FROM busybox\nCOPY . /src\nWORKDIR /src")
    lines = list(api.build(path=str(ctx), dockerfile=str(df_dir / "Dockerfile"), tag="dpy-ooc",
                           decode=True))  # fmt: skip
    cid = ""
    try:
        assert "Successfully tagged" in lines[-1]["stream"]
        cid = api.create_container("dpy-ooc", "ls -a")["Id"]
        api.start(cid)
        api.wait(cid)
        assert sorted(api.logs(cid).split()) == [b".", b"..", b"file.txt"]
    finally:
        if cid:
            api.remove_container(cid, force=True)
        api.remove_image("dpy-ooc")


def test_build_extra_hosts(api: docker.APIClient) -> None:
    script = b"FROM busybox\nRUN grep -q 'extra.test' /etc/hosts && cp /etc/hosts /hosts-file\n"
    chunks = list(api.build(fileobj=io.BytesIO(script), tag="dpy-hosts", decode=True,
                            extra_hosts={"extra.test": "127.0.0.1"}))  # fmt: skip
    cid = ""
    try:
        assert not [c for c in chunks if "errorDetail" in c], chunks
        cid = api.create_container("dpy-hosts", "cat /hosts-file")["Id"]
        api.start(cid)
        api.wait(cid)
        assert "127.0.0.1\textra.test" in api.logs(cid).decode()
    finally:
        if cid:
            api.remove_container(cid, force=True)
        api.remove_image("dpy-hosts")
