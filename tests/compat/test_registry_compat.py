"""Registries through the official clients (E5, #13): the docker CLI and docker-py pull from,
push to and log in to a real docker-registry on 127.0.0.1 (tests/registry.py) through dockyard;
and differentially, the same pull from the same registry on dockyard and on a real dockerd 20.10
(the oracle) gives the same image Id, RepoTags and RepoDigests, the same progress messages and
the same CLI errors (exit code, stdout and stderr).

Every test points DOCKER_CONFIG at its own directory: the CLI and docker-py never read or write
the host's ~/.docker."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import docker as docker_py
import pytest

from tests import registry as R
from tests.compat.cli import DOCKER, docker, ok
from tests.conftest import Daemon, UnixHTTPConnection
from tests.integration.test_registry_pull import (
    Messages,
    app_layout,
    by_layer,
    forget,
    parse_stream,
    pull,
)

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.fixture(autouse=True)
def own_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's and docker-py's config directory for this test only."""
    cfg = tmp_path / "docker-config"
    cfg.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    return cfg


def on_oracle(sock: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The same docker CLI against the oracle dockerd (DOCKER_CONFIG as set for the test)."""
    assert DOCKER is not None
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, input=input,
                          timeout=120)  # fmt: skip


def cli_outcome(host: str, *args: str, timeout: float = 10) -> tuple[int | str, str, str]:
    """(exit code, stdout, stderr) of the docker CLI against `host`, stdin at EOF; a CLI that
    waits for an answer anyway (CLI 28 asks for a username after a daemon's 401, even without
    a terminal) gives ("timeout", what it printed, ...)."""
    assert DOCKER is not None
    env = {**os.environ, "DOCKER_HOST": host}
    try:
        p = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, input="",
                           timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
        return "timeout", out, err
    return p.returncode, p.stdout, p.stderr


def oracle_pull_stream(sock: str, image: str, tag: str) -> Messages:
    conn = UnixHTTPConnection(sock, timeout=120)
    try:
        conn.request("POST", f"/images/create?fromImage={image}&tag={tag}")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body
        return parse_stream(body)
    finally:
        conn.close()


def oracle_forget(sock: str, host: str) -> None:
    """Remove every image the oracle has under `host`."""
    fmt = "{{.Repository}}:{{.Tag}} {{.ID}}"
    listed = on_oracle(sock, "images", "--digests", "--format", fmt).stdout.split("\n")
    ids = {line.split()[1] for line in listed if line.startswith(f"{host}/")}
    if ids:
        on_oracle(sock, "rmi", "-f", *ids)


INSPECT = "{{.Id}} {{json .RepoTags}} {{json .RepoDigests}} {{.Os}}/{{.Architecture}} " \
          "{{json .RootFS.Layers}}"  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The docker CLI against dockyard


def test_docker_cli_pull_run_push(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): `docker pull` prints dockerd's lines and ends with Digest, Status and the
    reference; the image runs; `docker push` of it to another repository prints 'The push
    refers to repository [...]' and 'TAG: digest: sha256:... size: N' with the registry's
    digest; `docker rmi` removes it."""
    app_layout(tmp_path / "img", hello=b"cli\n")
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/cli:1", reg, fmt="v2s2")
        ref = f"{reg.host}/t/cli:1"
        try:
            out = ok(docker(daemon, "pull", ref)).splitlines()
            assert out[-3:] == [
                f"Digest: {digest}",
                f"Status: Downloaded newer image for {ref}",
                ref,
            ], out
            assert any(line.endswith(": Pull complete") for line in out), out
            assert ok(docker(daemon, "run", "--rm", "--network", "none", ref, "cat", "/hello")) == (
                "cli\n"
            )
            again = ok(docker(daemon, "pull", ref)).splitlines()
            assert again[-2:] == [f"Status: Image is up to date for {ref}", ref], again

            ok(docker(daemon, "tag", ref, f"{reg.host}/t/cli-copy:2"))
            pushed = ok(docker(daemon, "push", f"{reg.host}/t/cli-copy:2")).splitlines()
            assert pushed[0] == f"The push refers to repository [{reg.host}/t/cli-copy]"
            assert pushed[-1].startswith(f"2: digest: {digest} size: "), pushed
            assert R.manifest(reg, "t/cli-copy:2")[1] == digest
            ok(docker(daemon, "rmi", ref, f"{reg.host}/t/cli-copy:2"))
            assert docker(daemon, "image", "inspect", ref).returncode == 1
        finally:
            forget(daemon, reg.host)


def test_docker_cli_build_pulls_its_base_with_progress(daemon: Daemon, tmp_path: Path) -> None:
    """E5 (#13): `docker build` of a Dockerfile whose FROM is not here pulls it and shows the
    pull's own progress in the build's output, as dockerd's builder does: 'Pulling from',
    'Pull complete', the Digest and Status lines, then the base's id and the next step."""
    app_layout(tmp_path / "img", hello=b"base\n")
    (tmp_path / "ctx").mkdir()
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/base:1", reg, fmt="v2s2")
        config = R.manifest(reg, "t/base:1")[2]["config"]["digest"]
        ref = f"{reg.host}/t/base:1"
        (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {ref}\nLABEL built=yes\n")
        try:
            out = ok(docker(daemon, "build", "-q=false", "-t", "dy-from-pull",
                            str(tmp_path / "ctx"))).splitlines()  # fmt: skip
            at = out.index(f"Step 1/2 : FROM {ref}")
            pulled = out[at + 1 : out.index("Step 2/2 : LABEL built=yes")]
            assert pulled[0] == "1: Pulling from t/base", out
            assert any(line.endswith(": Pull complete") for line in pulled), out
            assert f"Digest: {digest}" in pulled and (
                f"Status: Downloaded newer image for {ref}" in pulled
            ), out
            assert pulled[-1] == f" ---> {config.removeprefix('sha256:')[:12]}", out
            assert ok(docker(daemon, "image", "inspect", "-f", "{{.Id}}", ref)).strip() == config
        finally:
            docker(daemon, "rmi", "dy-from-pull")
            forget(daemon, reg.host)


def test_docker_cli_login_pull_push_logout(
    daemon: Daemon, tmp_path: Path, own_docker_config: Path
) -> None:
    """E5 (#13): against a Basic-auth registry, `docker login --password-stdin` prints 'Login
    Succeeded' and keeps the credentials in config.json as Docker does; then pull and push work
    with them (the CLI sends X-Registry-Auth); `docker logout` forgets them; a wrong password
    fails with exit code 1."""
    app_layout(tmp_path / "img", hello=b"logged in\n")
    with R.registry(tmp_path, auth="basic") as reg:
        R.skopeo_push(tmp_path / "img", "t/private:1", reg, fmt="v2s2")
        ref = f"{reg.host}/t/private:1"
        try:
            bad = docker(daemon, "login", "-u", reg.user or "", "--password-stdin", reg.host,
                         input="wrong\n")  # fmt: skip
            assert bad.returncode == 1, bad
            assert not (own_docker_config / "config.json").exists() or reg.host not in json.loads(
                (own_docker_config / "config.json").read_text()
            ).get("auths", {})
            r = docker(daemon, "login", "-u", reg.user or "", "--password-stdin", reg.host,
                       input=f"{reg.password}\n")  # fmt: skip
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip().endswith("Login Succeeded"), r.stdout
            auths = json.loads((own_docker_config / "config.json").read_text())["auths"]
            assert reg.host in auths

            ok(docker(daemon, "pull", ref))
            assert ok(docker(daemon, "run", "--rm", "--network", "none", ref, "cat", "/hello")) == (
                "logged in\n"
            )
            ok(docker(daemon, "tag", ref, f"{reg.host}/t/mine:1"))
            pushed = ok(docker(daemon, "push", f"{reg.host}/t/mine:1"))
            assert "1: digest: sha256:" in pushed
            assert R.manifest(reg, "t/mine:1")[1]

            ok(docker(daemon, "logout", reg.host))
            auths = json.loads((own_docker_config / "config.json").read_text()).get("auths", {})
            assert reg.host not in auths
        finally:
            forget(daemon, reg.host)


# ---------------------------------------------------------------------------------------------
# Differential: dockyard and the oracle dockerd, same registry, same image


@pytest.mark.parametrize("kind", ["v2s2", "oci", "index"])
def test_same_image_id_and_repodigests_as_dockerd(
    daemon: Daemon, oracle: str, tmp_path: Path, kind: str
) -> None:
    """E5 (#13): the same pull of the same image from the same registry (a Docker schema 2
    manifest, an OCI manifest, a two-platform OCI index) gives the same Id, RepoTags,
    RepoDigests, platform and layers on dockyard and on dockerd."""
    plats = [("linux", "amd64", ""), ("linux", "arm64", "v8")] if kind == "index" else None
    app_layout(tmp_path / "img", platforms=plats)
    with R.registry(tmp_path) as reg:
        fmt = "v2s2" if kind == "v2s2" else "oci"
        digest = R.skopeo_push(tmp_path / "img", "t/same:1", reg, fmt=fmt)
        ref = f"{reg.host}/t/same:1"
        try:
            ok(docker(daemon, "pull", ref))
            theirs = on_oracle(oracle, "pull", ref)
            assert theirs.returncode == 0, theirs.stderr
            ours = ok(docker(daemon, "image", "inspect", "-f", INSPECT, ref))
            want = on_oracle(oracle, "image", "inspect", "-f", INSPECT, ref).stdout
            assert ours == want
            assert json.loads(ours.split()[2]) == [f"{reg.host}/t/same@{digest}"]
        finally:
            forget(daemon, reg.host)
            oracle_forget(oracle, reg.host)


def test_pull_progress_messages_as_dockerd(daemon: Daemon, oracle: str, tmp_path: Path) -> None:
    """E5 (#13): the progress stream of the same pull on both engines: the same 'Pulling from'
    (with the tag as id), the same layer ids each starting with 'Pulling fs layer' and ending
    with 'Pull complete', the same 'Digest:' and 'Status:' lines; a second pull of the same tag
    sends exactly what dockerd sends (dockerd 20.10 lists no layers when it has the image)."""
    app_layout(tmp_path / "img", hello=b"stream\n")
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "img", "t/stream:1", reg, fmt="v2s2")
        image = f"{reg.host}/t/stream"
        try:
            status, first = pull(daemon, image, "1")
            assert status == 200
            status, second = pull(daemon, image, "1")
            assert status == 200
            their_first = oracle_pull_stream(oracle, image, "1")
            their_second = oracle_pull_stream(oracle, image, "1")

            def outline(msgs: Messages) -> list[tuple[str, str]]:
                return [(m["status"], m.get("id", "")) for m in msgs if "progressDetail" not in m]

            def ends(msgs: Messages) -> dict[str, tuple[str, str]]:
                return {lay: (seq[0], seq[-1]) for lay, seq in by_layer(msgs).items()}

            assert ends(first) == ends(their_first)
            # Both pulls in one comparison, so a failure shows every difference at once.
            assert (outline(first), second) == (outline(their_first), their_second)
        finally:
            forget(daemon, reg.host)
            oracle_forget(oracle, reg.host)


Setup = Callable[[ExitStack, Path], list[str]]


def _published(stack: ExitStack, tmp: Path, **kw: object) -> R.Registry:
    reg = stack.enter_context(R.registry(tmp, **kw))  # type: ignore[arg-type]
    app_layout(tmp / "img")
    R.skopeo_push(tmp / "img", "t/app:1", reg, fmt="v2s2")
    return reg


def _unknown_tag(stack: ExitStack, tmp: Path) -> list[str]:
    return ["pull", f"{_published(stack, tmp).host}/t/app:nope"]


def _unknown_repository(stack: ExitStack, tmp: Path) -> list[str]:
    return ["pull", f"{_published(stack, tmp).host}/t/nothing:1"]


def _registry_down(stack: ExitStack, tmp: Path) -> list[str]:
    reg = _published(stack, tmp)
    reg.stop()
    return ["pull", f"{reg.host}/t/app:1"]


def _basic_auth_without_login(stack: ExitStack, tmp: Path) -> list[str]:
    return ["pull", f"{_published(stack, tmp, auth='basic').host}/t/app:1"]


def _token_auth_without_login(stack: ExitStack, tmp: Path) -> list[str]:
    return ["pull", f"{_published(stack, tmp, auth='token').host}/t/app:1"]


def _login_wrong_password(stack: ExitStack, tmp: Path) -> list[str]:
    reg = stack.enter_context(R.registry(tmp, auth="basic"))
    return ["login", "-u", reg.user or "", "-p", "wrong", reg.host]


ERROR_CASES: dict[str, Setup] = {
    "unknown-tag": _unknown_tag,
    "unknown-repository": _unknown_repository,
    "registry-down": _registry_down,
    "basic-auth-without-login": _basic_auth_without_login,
    "token-auth-without-login": _token_auth_without_login,
    "login-wrong-password": _login_wrong_password,
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_pull_and_login_errors_as_dockerd(
    daemon: Daemon, oracle: str, tmp_path: Path, case: str
) -> None:
    """E5 (#13): the same docker CLI command against dockyard and against dockerd, on the same
    registry, fails the same way: exit code, stdout and stderr byte for byte. Unknown tag and
    unknown repository (404 manifest unknown), registry down (connection refused), a Basic-auth
    or token-auth registry without `docker login` (the anonymous token grants nothing in t/),
    `docker login` with a wrong password."""
    with ExitStack() as stack:
        args = ERROR_CASES[case](stack, tmp_path)
        want = cli_outcome(f"unix://{oracle}", *args)
        got = cli_outcome(daemon.host, *args)
        assert want[0] not in (0, "timeout"), want
        assert got == want, f"\ndockyard: {got}\ndockerd:  {want}"
        images = ok(docker(daemon, "images", "--format", "{{.Repository}}")).split()
        assert not [i for i in images if i.startswith("127.0.0.1:")], images


# ---------------------------------------------------------------------------------------------
# docker-py


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker_py.DockerClient]:
    c = docker_py.DockerClient(base_url=daemon.host, version="auto")
    try:
        yield c
    finally:
        c.close()


def test_docker_py_pull_returns_the_image(
    daemon: Daemon, client: docker_py.DockerClient, tmp_path: Path
) -> None:
    """E5 (#13): docker-py's images.pull(repo, tag=...) returns the pulled Image: its id is the
    config digest, its tags the reference; attrs carry RepoDigests."""
    app_layout(tmp_path / "img")
    with R.registry(tmp_path) as reg:
        digest = R.skopeo_push(tmp_path / "img", "t/py:3", reg, fmt="v2s2")
        config = R.manifest(reg, "t/py:3")[2]["config"]["digest"]
        try:
            img = client.images.pull(f"{reg.host}/t/py", tag="3")
            assert img.id == config
            assert img.tags == [f"{reg.host}/t/py:3"]
            assert img.attrs["RepoDigests"] == [f"{reg.host}/t/py@{digest}"]
            assert client.images.get(f"{reg.host}/t/py@{digest}").id == config
        finally:
            forget(daemon, reg.host)


def test_docker_py_push_stream_yields_the_digest(
    daemon: Daemon, client: docker_py.DockerClient, tmp_path: Path
) -> None:
    """E5 (#13): docker-py's images.push(repo, tag=..., stream=True, decode=True) yields
    dockerd's messages, the aux one carrying the digest the registry serves the tag under."""
    with R.registry(tmp_path) as reg:
        repo = f"{reg.host}/t/pypush"
        try:
            assert client.images.get("busybox:latest").tag(repo, "5")
            lines = list(client.images.push(repo, tag="5", stream=True, decode=True))
            assert lines[0] == {"status": f"The push refers to repository [{repo}]"}
            assert not [m for m in lines if "error" in m], lines
            aux = [m["aux"] for m in lines if "aux" in m]
            assert len(aux) == 1 and aux[0]["Tag"] == "5"
            assert R.manifest(reg, "t/pypush:5")[1] == aux[0]["Digest"]
            assert (
                f"{repo}@{aux[0]['Digest']}" in client.images.get(f"{repo}:5").attrs["RepoDigests"]
            )
        finally:
            forget(daemon, reg.host)


def test_docker_py_login_basic_auth(
    daemon: Daemon, client: docker_py.DockerClient, tmp_path: Path
) -> None:
    """E5 (#13): docker-py's login() against a Basic-auth registry answers 'Login Succeeded'
    (a wrong password raises APIError), and the pull after it uses those credentials."""
    app_layout(tmp_path / "img")
    with R.registry(tmp_path, auth="basic") as reg:
        R.skopeo_push(tmp_path / "img", "t/pylogin:1", reg, fmt="v2s2")
        config = R.manifest(reg, "t/pylogin:1")[2]["config"]["digest"]
        try:
            with pytest.raises(docker_py.errors.APIError):
                client.login(username=reg.user, password="wrong", registry=reg.host, reauth=True)
            answer = client.login(username=reg.user, password=reg.password, registry=reg.host)
            assert answer["Status"] == "Login Succeeded", answer
            assert client.images.pull(f"{reg.host}/t/pylogin", tag="1").id == config
        finally:
            forget(daemon, reg.host)
