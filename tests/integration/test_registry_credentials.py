"""Credential helpers (E5, #13): `credsStore` and `credHelpers` in config.json, used by the
dockyard CLI as the docker CLI uses them, against a Basic-auth docker-registry on 127.0.0.1 and
the shared test daemon. The helper is a fake of the test's own (tests/credhelper.py) first on
PATH, keeping its credentials in its own file and logging every call; HOME is the test's own
directory and DOCKER_CONFIG unset, so the CLIs read HOME/.docker/config.json and never the
host's.

Covered: login stores through the helper (config.json gets `"auths": {HOST: {}}`, no secret),
pull and push get the credentials from it, logout erases them; a `credHelpers` entry wins over
`credsStore` for its registry only; a failing or missing helper is an error in the docker CLI's
words and never a fall back to plain text; an identity token kept by a helper is sent as one;
and the official docker CLI with the same helper through dockyard's socket, writing what the
dockyard CLI writes and sharing the login with it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import registry as R
from tests.compat.cli import docker
from tests.conftest import Daemon
from tests.credhelper import Helper, make_helper
from tests.integration.test_registry_pull import app_layout, forget, inspect

pytestmark = pytest.mark.integration


@pytest.fixture
def docker_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME/.docker of this test's own (DOCKER_CONFIG unset, so both CLIs use it)."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    return home / ".docker"


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Helper]:
    """Makes fake helpers in a directory put first on PATH."""
    where = tmp_path / "helpers"
    where.mkdir()
    monkeypatch.setenv("PATH", f"{where}:{os.environ['PATH']}")
    return lambda: make_helper(where)


@pytest.fixture
def private(tmp_path: Path) -> Iterator[tuple[R.Registry, str]]:
    """A Basic-auth registry holding t/private:1: (registry, the image's config digest)."""
    app_layout(tmp_path / "img", hello=b"kept by a helper\n")
    with R.registry(tmp_path, auth="basic") as reg:
        R.skopeo_push(tmp_path / "img", "t/private:1", reg, fmt="v2s2")
        yield reg, str(R.manifest(reg, "t/private:1")[2]["config"]["digest"])


def configure(docker_dir: Path, **doc: Any) -> None:
    (docker_dir / "config.json").write_text(json.dumps(doc))


def config(docker_dir: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((docker_dir / "config.json").read_text())
    return found


def login(
    d: Daemon, reg: R.Registry, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`dockyard login -u USER --password-stdin HOST`."""
    secret = reg.password if password is None else password
    return d.dockyard("login", "-u", reg.user or "", "--password-stdin", reg.host,
                      input=f"{secret}\n".encode())  # fmt: skip


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r.stdout


NO_CREDENTIALS = "no basic auth credentials"


def test_creds_store_login_pull_push_logout(
    daemon: Daemon, docker_dir: Path, helpers: Callable[[], Helper],
    private: tuple[R.Registry, str],
) -> None:  # fmt: skip
    """E5 (#13): with `credsStore`, `dockyard login` gives the credentials to the helper's
    `store` and writes `"auths": {HOST: {}}` (no `auth`, no secret anywhere in config.json);
    `dockyard pull` and `push` of the private repository get them from the helper's `get`;
    `dockyard logout` says what the docker CLI says and calls `erase`, after which the same pull
    fails for want of credentials."""
    reg, image_id = private
    helper = helpers()
    configure(docker_dir, credsStore=helper.name)
    ref = f"{reg.host}/t/private:1"
    try:
        assert ok(login(daemon, reg)) == "Login Succeeded\n"
        assert config(docker_dir) == {"credsStore": helper.name, "auths": {reg.host: {}}}
        assert reg.password not in (docker_dir / "config.json").read_text()
        store = {"ServerURL": reg.host, "Username": reg.user, "Secret": reg.password}
        assert helper.calls() == [("store", store)]
        helper.forget_calls()

        ok(daemon.dockyard("pull", ref))
        assert inspect(daemon, ref)["Id"] == image_id
        ok(daemon.dockyard("tag", ref, f"{reg.host}/t/mine:1"))
        ok(daemon.dockyard("push", f"{reg.host}/t/mine:1"))
        assert R.manifest(reg, "t/mine:1")[1]
        assert helper.calls() == [("get", reg.host), ("get", reg.host)]
        helper.forget_calls()

        r = daemon.dockyard("logout", reg.host)
        assert (r.returncode, r.stdout, r.stderr) == (
            0, f"Removing login credentials for {reg.host}\n", "")  # fmt: skip
        assert ("erase", reg.host) in helper.calls() and helper.stored() == {}
        assert config(docker_dir)["auths"] == {}
        forget(daemon, reg.host)
        r = daemon.dockyard("pull", ref)
        assert r.returncode == 1 and NO_CREDENTIALS in r.stderr, r.stderr
    finally:
        forget(daemon, reg.host)


def test_cred_helpers_entry_wins_for_its_registry(
    daemon: Daemon, docker_dir: Path, helpers: Callable[[], Helper],
    private: tuple[R.Registry, str], tmp_path: Path,
) -> None:  # fmt: skip
    """E5 (#13): `credHelpers: {HOST: NAME}` sends that registry's credentials to NAME and
    never to the `credsStore` helper, for login and pull alike; another registry, not listed,
    still goes to `credsStore`."""
    reg, image_id = private
    store_helper, per_registry = helpers(), helpers()
    configure(docker_dir, credsStore=store_helper.name, credHelpers={reg.host: per_registry.name})
    try:
        ok(login(daemon, reg))
        ok(daemon.dockyard("pull", f"{reg.host}/t/private:1"))
        assert inspect(daemon, f"{reg.host}/t/private:1")["Id"] == image_id
        assert [c[0] for c in per_registry.calls()] == ["store", "get"]
        assert store_helper.calls() == []
        with R.registry(tmp_path / "other", auth="basic") as other:
            ok(login(daemon, other))
            assert set(store_helper.stored()) == {other.host}
            assert set(per_registry.stored()) == {reg.host}
    finally:
        forget(daemon, reg.host)


def test_failing_or_missing_helper_is_an_error(
    daemon: Daemon, docker_dir: Path, helpers: Callable[[], Helper],
    private: tuple[R.Registry, str],
) -> None:  # fmt: skip
    """E5 (#13): a helper that fails (exit 1 with a message, as a locked keychain) makes `login`
    fail with the docker CLI's `Error saving credentials: error storing credentials - err: exit
    status 1, out: `MESSAGE``, and a helper that is not installed with its `exec: ...:
    executable file not found in $PATH`; config.json is left as it was, the password never
    written in it. A pull then goes without credentials (the docker CLI ignores the helper's
    failure there) and `logout` warns with the helper's error for every name it tried."""
    reg, _ = private
    helper = helpers()
    configure(docker_dir, credsStore=helper.name)
    helper.fail("the keychain is locked")
    locked = "error storing credentials - err: exit status 1, out: `the keychain is locked`"
    r = login(daemon, reg)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"Error saving credentials: {locked}\n")
    assert config(docker_dir) == {"credsStore": helper.name}
    r = daemon.dockyard("pull", f"{reg.host}/t/private:1")
    assert r.returncode == 1 and NO_CREDENTIALS in r.stderr, r.stderr
    r = daemon.dockyard("logout", reg.host)
    assert r.stdout == f"Removing login credentials for {reg.host}\n"
    assert r.stderr.splitlines() == ["WARNING: could not erase credentials:"] + [
        f"{name}: error erasing credentials - err: exit status 1, out: `the keychain is locked`"
        for name in (reg.host, f"http://{reg.host}", f"https://{reg.host}")
    ]

    missing = f"{helper.name}gone"
    configure(docker_dir, credsStore=missing)
    r = login(daemon, reg)
    assert (r.returncode, r.stderr) == (1, (
        f'Error saving credentials: error storing credentials - err: exec: '
        f'"docker-credential-{missing}": executable file not found in $PATH, out: ``\n'))  # fmt: skip
    assert config(docker_dir) == {"credsStore": missing}


def test_identity_token_kept_by_a_helper_is_sent_as_one(
    daemon: Daemon, docker_dir: Path, helpers: Callable[[], Helper], tmp_path: Path
) -> None:
    """E5 (#13): a helper entry whose username is `<token>` is an identity token (the docker CLI
    keeps one so after an OAuth login): a pull sends it as `identitytoken`, so the daemon asks
    the token server with a refresh_token grant (POST) instead of Basic credentials for a user
    named `<token>`."""
    helper = helpers()
    with R.registry(tmp_path, auth="token") as reg:
        stored = {"ServerURL": reg.host, "Username": "<token>", "Secret": "refresh-me"}
        subprocess.run([helper.program, "store"], input=json.dumps(stored), text=True, check=True)
        configure(docker_dir, credsStore=helper.name, auths={reg.host: {}})
        reg.token_requests.clear()
        r = daemon.dockyard("pull", f"{reg.host}/team/app:1")
        assert r.returncode == 1
        asked = [(t.method, t.user, tuple(t.scopes)) for t in reg.token_requests]
        assert asked and set(asked) == {("POST", None, ("repository:team/app:pull",))}, asked
        assert ("get", reg.host) in helper.calls()


@pytest.mark.compat
def test_docker_cli_with_the_same_helper(
    daemon: Daemon, docker_dir: Path, helpers: Callable[[], Helper],
    private: tuple[R.Registry, str],
) -> None:  # fmt: skip
    """E5 (#13): the official docker CLI, through dockyard's socket, logs in with the same kind
    of helper: it gives the helper the same `store` call and writes the same config.json as
    `dockyard login` does; its pull of the private image through dockyard gets the credentials
    from the helper; the dockyard CLI pulls with that login too; both CLIs' `logout` print the
    same line and leave the helper empty."""
    reg, image_id = private
    ref = f"{reg.host}/t/private:1"
    written = {}
    for cli in ("docker", "dockyard"):
        helper = helpers()
        configure(docker_dir, credsStore=helper.name)
        if cli == "docker":
            r = docker(daemon, "login", "-u", reg.user or "", "--password-stdin", reg.host,
                       input=f"{reg.password}\n")  # fmt: skip
        else:
            r = login(daemon, reg)
        assert r.returncode == 0 and r.stdout.endswith("Login Succeeded\n"), (cli, r)
        doc = config(docker_dir)
        written[cli] = ({**doc, "credsStore": "NAME"}, helper.calls())
        helper.forget_calls()
        try:
            pulled = (
                docker(daemon, "pull", ref) if cli == "docker" else daemon.dockyard("pull", ref)
            )
            ok(pulled)
            assert inspect(daemon, ref)["Id"] == image_id
            assert helper.calls() == [("get", reg.host)], cli
            forget(daemon, reg.host)
            if cli == "docker":  # the docker CLI's login serves the dockyard CLI as well
                ok(daemon.dockyard("pull", ref))
            out = ok(docker(daemon, "logout", reg.host) if cli == "docker"
                     else daemon.dockyard("logout", reg.host))  # fmt: skip
            assert out == f"Removing login credentials for {reg.host}\n"
            assert helper.stored() == {}
        finally:
            forget(daemon, reg.host)
    assert written["dockyard"] == written["docker"]
    assert written["docker"][0] == {"auths": {reg.host: {}}, "credsStore": "NAME"}
