"""Causes found by docker-py's own integration suite (issue #16, E1/E6), kept fixed without its
tree: commit of a container that exits at once, a bad archive given to `load`, and legacy link
removal (`rm --link`), each asserted on what docker-py and the docker CLI return, and the CLI's
output compared with a real dockerd 20.10 (the oracle) where it can run the same scenario."""

from __future__ import annotations

import io
import os
import random
import subprocess
import tarfile
from collections.abc import Callable
from typing import Any

import pytest

from tests.compat.cli import docker, ok
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]

Docker = Callable[..., subprocess.CompletedProcess[str]]


def _client(d: Daemon) -> Any:
    docker_mod = pytest.importorskip("docker")
    return docker_mod.APIClient(base_url=d.host, version="1.41")


def _cli(sock: str) -> Docker:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["docker", *args], env=env, input=input, capture_output=True,
                           timeout=60)  # fmt: skip
        return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(),
                                           r.stderr.decode())  # fmt: skip

    return run


def test_commit_of_a_container_that_exits_at_once(daemon: Daemon) -> None:
    """docker-py's test_commit: start `touch /test` and commit at once (pause=True). The
    container may exit between its recorded state and the pause: dockerd commits it anyway
    (the pause is best effort); this used to be a 500 "container does not exist"."""
    api = _client(daemon)
    base = api.inspect_image("busybox")["Id"]
    made: list[str] = []
    try:
        for _ in range(6):
            cid = api.create_container("busybox", ["touch", "/test"])["Id"]
            made.append(cid)
            api.start(cid)
            res = api.commit(cid, changes=["EXPOSE 8000", 'CMD ["bash"]'])
            img = api.inspect_image(res["Id"])
            assert img["Parent"] == base
            assert "8000/tcp" in img["Config"]["ExposedPorts"]
            assert img["Config"]["Cmd"] == ["bash"]
            api.remove_image(res["Id"])
        # the CLI by full id, id prefix and name
        name = f"commit{random.randint(0, 1 << 30)}"
        cid = ok(docker(daemon, "run", "-d", "--name", name, "busybox", "touch", "/x")).strip()
        made.append(cid)
        for ref in (cid, cid[:7], name):
            image = ok(docker(daemon, "commit", ref)).strip()
            assert image.startswith("sha256:") and len(image) == 71
            ok(docker(daemon, "rmi", image))
    finally:
        for cid in made:
            api.remove_container(cid, force=True)
        api.close()


def _bad_archives() -> dict[str, bytes]:
    def tar_of(files: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    return {
        "truncated": b"garbage\n",
        "not-a-tar": bytes(random.Random(7).randrange(256) for _ in range(4096)),
        "manifest-object": tar_of({"manifest.json": b"{}"}),
        "manifest-numbers": tar_of({"manifest.json": b"[1]"}),
    }


def test_load_of_a_bad_archive_is_an_error_in_the_stream(daemon: Daemon) -> None:
    """dockerd answers 200 and streams `{"errorDetail":...,"error":...}`; docker-py raises
    ImageLoadError from it and the CLI prints the message and exits 1."""
    docker_mod = pytest.importorskip("docker")
    status, body = daemon.api("POST", "/v1.41/images/load?quiet=1", raw=b"garbage\n")
    assert status == 200
    msg = "Error processing tar file(exit status 1): unexpected EOF"
    assert body == {"errorDetail": {"message": msg}, "error": msg}
    client = docker_mod.DockerClient(base_url=daemon.host, version="1.41")
    try:
        with pytest.raises(docker_mod.errors.ImageLoadError) as e:
            client.images.load(b"garbage\n")
        assert str(e.value) == msg
    finally:
        client.close()
    r = _cli(str(daemon.socket))("load", input=b"garbage\n")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", msg + "\n")


def test_load_errors_as_dockerd(daemon: Daemon, oracle: str) -> None:
    """The CLI's output for each bad archive, dockyard and dockerd side by side."""

    def outputs(sock: str) -> list[tuple[str, int, str, str]]:
        run = _cli(sock)
        got = []
        for what, data in _bad_archives().items():
            r = run("load", input=data)
            got.append((what, r.returncode, r.stdout, r.stderr))
        return got

    assert outputs(str(daemon.socket)) == outputs(oracle)


def _link_scenario(run: Docker) -> list[str]:
    """Link, list the names, remove the link (and what cannot be removed), list again."""
    tag = f"{random.randint(0, 1 << 30)}"
    db, web = f"db{tag}", f"web{tag}"
    seen: list[str] = []

    def names() -> str:
        r = run("ps", "-a", "--no-trunc", "--filter", f"name={tag}", "--format", "{{.Names}}")
        return " ".join(sorted(r.stdout.replace(tag, "").split()))

    def step(*args: str) -> None:
        r = run(*args)
        seen.append(f"{' '.join(args)}: {r.returncode} {r.stdout.strip()} {r.stderr.strip()}")

    try:
        assert run("run", "-d", "--name", db, "busybox", "sleep", "60").returncode == 0
        r = run("run", "-d", "--name", web, "--link", f"{db}:al", "busybox", "sleep", "60")
        assert r.returncode == 0, r.stderr
        seen.append(names())
        step("inspect", "-f", "{{.Name}}", f"{web}/al")
        step("rm", "--link", db)
        step("rm", "--link", f"{web}/nope")
        step("rm", "--link", f"{web}/al")
        step("inspect", "-f", "{{json .HostConfig.Links}}", web)
        step("rm", "--link", f"/{web}/al")
        seen.append(names())
    finally:
        run("rm", "-f", web, db)
    return [s.replace(tag, "") for s in seen]


def test_rm_link_removes_the_link_as_dockerd(daemon: Daemon, oracle: str) -> None:
    """`rm --link parent/alias` (DELETE /containers/parent/alias?link=1): the link's name goes
    from the target's Names and the parent's HostConfig.Links, both containers stay; a plain
    name is the default link name (refused), an unknown link a 404 -- as the oracle answers."""
    ours = _link_scenario(_cli(str(daemon.socket)))
    assert ours[0] == "db,web/al web", ours
    assert ours == _link_scenario(_cli(oracle))


def test_docker_py_remove_link(daemon: Daemon) -> None:
    """docker-py's test_remove_link: remove_container(link=True) on `parent/alias`."""
    api = _client(daemon)
    made: list[str] = []
    try:
        c1 = api.create_container("busybox", "cat", stdin_open=True)["Id"]
        made.append(c1)
        api.start(c1)
        target = api.inspect_container(c1)["Name"][1:]
        hc = api.create_host_config(links={target: "mylink"})
        c2 = api.create_container("busybox", "cat", host_config=hc)["Id"]
        made.append(c2)
        api.start(c2)
        parent = api.inspect_container(c2)["Name"][1:]
        link = f"/{parent}/mylink"
        listed = api.containers(all=True)
        assert [x["Names"] for x in listed if x["Id"] == c1] == [[f"/{target}", link]]
        assert api.inspect_container(link[1:])["Id"] == c1
        api.remove_container(link[1:], link=True)
        listed = api.containers(all=True)
        assert not [x for x in listed if link in x["Names"]]
        assert {c1, c2} <= {x["Id"] for x in listed}
        assert api.inspect_container(c2)["HostConfig"]["Links"] is None
    finally:
        for cid in made:
            api.remove_container(cid, force=True)
        api.close()


def test_info_counts_every_image_as_images_all_lists(daemon: Daemon) -> None:
    """docker-py's test_images: `info()['Images']` is the number of distinct images that
    `images(all=True)` lists, intermediate build steps included, as dockerd counts them."""
    api = _client(daemon)
    tag = f"dpy-count-{random.randrange(1 << 30)}"
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tf:
        text = b"FROM busybox\nRUN echo a > /a\nRUN echo b > /b\n"
        ti = tarfile.TarInfo("Dockerfile")
        ti.size = len(text)
        tf.addfile(ti, io.BytesIO(text))
    ctx.seek(0)
    list(api.build(fileobj=ctx, custom_context=True, tag=tag, rm=True, decode=True))
    try:
        listed = {img["Id"] for img in api.images(all=True)}
        assert len(listed) > len({img["Id"] for img in api.images()})  # intermediates exist
        assert api.info()["Images"] == len(listed)
    finally:
        api.remove_image(tag)
