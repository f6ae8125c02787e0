"""`--volumes-from` through the official docker CLI and docker-py (S8, S9, E1)."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from typing import Any

import pytest

from tests import oracle as oracle_cli
from tests.compat.cli import docker, ok
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def test_docker_cli_volumes_from(daemon: Daemon) -> None:
    """S8: docker run --volumes-from SRC[:ro] sees SRC's volumes; errors worded as dockerd's."""
    src, vol = f"vfc-{secrets.token_hex(4)}", f"vfc-vol-{secrets.token_hex(4)}"
    ok(docker(daemon, "run", "--name", src, "-v", "/anon", "-v", f"{vol}:/named", "busybox",
              "sh", "-c", "echo a > /anon/f; echo n > /named/f"))  # fmt: skip
    try:
        out = ok(docker(daemon, "run", "--rm", "--volumes-from", src, "busybox",
                        "sh", "-c", "cat /anon/f /named/f; echo w > /anon/g"))  # fmt: skip
        assert out == "a\nn\n"
        r = docker(daemon, "run", "--rm", "--volumes-from", f"{src}:ro", "busybox",
                   "sh", "-c", "cat /anon/g; touch /named/h")  # fmt: skip
        assert r.returncode == 1 and r.stdout == "w\n" and "Read-only file system" in r.stderr
        r = docker(daemon, "create", "--volumes-from", "vfc-no-such", "busybox")
        assert r.returncode == 1
        assert r.stderr.strip() == "Error response from daemon: No such container: vfc-no-such"
        r = docker(daemon, "create", "--volumes-from", f"{src}:rshared", "busybox")
        assert r.stderr.strip() == "Error response from daemon: invalid mode: rshared"
        cid = ok(docker(daemon, "create", "--volumes-from", f"{src}:ro", "busybox")).strip()
        doc = json.loads(ok(docker(daemon, "inspect", cid)))[0]
        assert doc["HostConfig"]["VolumesFrom"] == [f"{src}:ro"]
        assert sorted(m["Destination"] for m in doc["Mounts"]) == ["/anon", "/named"]
        assert {(m["Mode"], m["RW"]) for m in doc["Mounts"]} == {("", False)}
        ok(docker(daemon, "rm", cid))
    finally:
        docker(daemon, "rm", "-f", "-v", src)
        docker(daemon, "volume", "rm", vol)


def test_docker_py_volumes_from(daemon: Daemon) -> None:
    """E1: docker-py's volumes_from= reaches HostConfig.VolumesFrom."""
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=f"unix://{daemon.socket}", version="auto")
    src = client.containers.run("busybox", ["sh", "-c", "echo py > /v/f"], volumes=["/v"],
                                detach=True, name=f"vfpy-{secrets.token_hex(4)}")  # fmt: skip
    try:
        src.wait()
        out = client.containers.run("busybox", ["cat", "/v/f"], volumes_from=[src.name],
                                    remove=True)  # fmt: skip
        assert out == b"py\n"
        with pytest.raises(docker_mod.errors.APIError, match="No such container: vfpy-none"):
            client.containers.create("busybox", volumes_from=["vfpy-none"])
    finally:
        src.remove(v=True, force=True)
        client.close()


def _volumes_from_shape(run: Any, tag: str, host: str) -> list[Any]:
    """`.Mounts` of containers made with --volumes-from, with names and paths made neutral."""
    src = f"vfd-src-{tag}"
    run("create", "--name", src, "-v", "/anon", "-v", f"vfd-named-{tag}:/named",
        "-v", f"{host}:/bind:ro", "busybox", "true")  # fmt: skip
    out: list[Any] = []
    made = [src]
    for i, extra in enumerate(([], [":ro"], ["-v", f"vfd-other-{tag}:/named"])):
        spec = src + (extra[0] if extra and extra[0].startswith(":") else "")
        flags = [f for f in extra if not f.startswith(":")]
        name = f"vfd-{i}-{tag}"
        run("create", "--name", name, "--volumes-from", spec, *flags, "busybox", "true")
        made.append(name)
        mounts = json.loads(run("inspect", "-f", "{{json .Mounts}}", name))
        out.append(
            sorted(
                (m["Type"], m["Destination"], m["Mode"], m["RW"], m["Propagation"],
                 m.get("Driver", ""), (m.get("Name") or "").replace(tag, "T")[:12])
                for m in mounts
            )
        )  # fmt: skip
    run("rm", "-v", *made)
    run("volume", "rm", f"vfd-named-{tag}", f"vfd-other-{tag}")
    return out


def test_volumes_from_mounts_match_dockerd(daemon: Daemon, oracle: str) -> None:
    """S8 differential: `.Mounts` after --volumes-from SRC, SRC:ro and an overriding -v."""
    host = tempfile.mkdtemp(prefix="dy-vfd-")
    try:

        def ours(*args: str) -> str:
            return ok(docker(daemon, *args))

        def theirs(*args: str) -> str:
            r = oracle_cli.docker(oracle, *args)
            assert r.returncode == 0, r.stderr
            return r.stdout.decode()

        tag = secrets.token_hex(3)
        mine, real = _volumes_from_shape(ours, tag, host), _volumes_from_shape(theirs, tag, host)
        # Anonymous volume names are random: keep only whether one is there.
        assert [[m[:6] for m in c] for c in mine] == [[m[:6] for m in c] for c in real]
        assert [[m[6] for m in c if "vfd" in m[6]] for c in mine] == [
            [m[6] for m in c if "vfd" in m[6]] for c in real
        ]
    finally:
        shutil.rmtree(host, ignore_errors=True)
