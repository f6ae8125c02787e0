"""Volumes through the official docker CLI and docker-py (S5, S8, S9), and a differential check
of `-v` populate and `.Mounts` against a private real dockerd when one is installed."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests import clis, oracle
from tests.compat.cli import docker, ok
from tests.conftest import Daemon

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def test_docker_cli_volume_commands(daemon: Daemon) -> None:
    """S8: docker volume create/ls/inspect/rm/prune with the official CLI."""
    name = f"cli-{secrets.token_hex(4)}"
    assert ok(docker(daemon, "volume", "create", "--label", "k=v", name)) == f"{name}\n"
    assert name in ok(docker(daemon, "volume", "ls", "-q", "--filter", "label=k=v")).split()
    table = ok(docker(daemon, "volume", "ls", "--filter", f"name={name}"))
    assert table.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    info = json.loads(ok(docker(daemon, "volume", "inspect", name)))
    assert info[0]["Labels"] == {"k": "v"} and info[0]["Mountpoint"].endswith(f"/{name}/_data")
    assert ok(docker(daemon, "volume", "inspect", "-f", "{{.Driver}}", name)) == "local\n"
    ok(docker(daemon, "run", "--rm", "-v", f"{name}:/d", "busybox", "sh", "-c", "echo hi > /d/f"))
    assert (
        ok(docker(daemon, "run", "--rm", "-v", f"{name}:/d:ro", "busybox", "cat", "/d/f")) == "hi\n"
    )
    cid = ok(docker(daemon, "create", "-v", f"{name}:/d", "busybox")).strip()
    r = docker(daemon, "volume", "rm", name)
    assert r.returncode == 1
    assert r.stderr == f"Error response from daemon: remove {name}: volume is in use - [{cid}]\n"
    ok(docker(daemon, "rm", cid))
    # CLI 20.10 speaks API 1.41, where prune takes named volumes too; a current CLI needs -a.
    all_flag = ["-a"] if clis.major() >= 23 else []
    out = ok(docker(daemon, "volume", "prune", *all_flag, "-f", "--filter", "label=k=v"))
    assert f"Deleted Volumes:\n{name}\n" in out
    r = docker(daemon, "volume", "inspect", name)
    gone = f"Error: No such volume: {name}" if clis.major() < 23 else "no such volume"
    assert r.returncode == 1 and gone in r.stderr


def test_docker_cli_run_mounts_and_system_df(daemon: Daemon) -> None:
    """S9, S10, S5: docker run -v/--mount/--tmpfs and docker system df."""
    host = Path(tempfile.mkdtemp(prefix="dy-compat-"))
    try:
        (host / "f").write_text("bound\n")
        out = ok(docker(daemon, "run", "--rm", "-v", f"{host}:/h:ro", "--tmpfs", "/t",
                        "--mount", "type=volume,dst=/anon", "busybox",
                        "sh", "-c", "cat /h/f; grep ' /t ' /proc/mounts | cut -d' ' -f1"))  # fmt: skip
        assert out == "bound\ntmpfs\n"
        df = ok(docker(daemon, "system", "df"))
        assert [line.split()[0] for line in df.splitlines()] == [
            "TYPE", "Images", "Containers", "Local", "Build"]  # fmt: skip
        assert "Local Volumes space usage:" in ok(docker(daemon, "system", "df", "-v"))
    finally:
        shutil.rmtree(host, ignore_errors=True)


def test_docker_py_volumes(daemon: Daemon) -> None:
    """S8: docker-py's client.volumes.* and a container using a volume."""
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=daemon.host)
    try:
        name = f"py-{secrets.token_hex(4)}"
        vol = client.volumes.create(name, labels={"via": "py"})
        assert vol.name == name and vol.attrs["Labels"] == {"via": "py"}
        assert client.volumes.get(name).attrs["Driver"] == "local"
        assert name in [v.name for v in client.volumes.list(filters={"label": "via=py"})]
        out = client.containers.run("busybox", ["sh", "-c", "echo py > /v/x; cat /v/x"],
                                    volumes={name: {"bind": "/v", "mode": "rw"}}, remove=True)  # fmt: skip
        assert out == b"py\n"
        with pytest.raises(docker_mod.errors.NotFound):
            client.volumes.get("no-such-vol-xyz")
        vol.remove()
        assert name not in [v.name for v in client.volumes.list()]
        result = client.volumes.prune()
        assert "SpaceReclaimed" in result
    finally:
        client.close()


def _populate_and_mounts(run: Any, volumes_root: str) -> tuple[str, list[dict[str, Any]]]:
    """The same scenario on either engine: an image dir copied into a fresh named volume, and
    the `.Mounts` of a container with a named volume, an anonymous one and a bind."""
    name = f"diff-{secrets.token_hex(4)}"
    script = "mkdir -p /p/d && echo a > /p/a && ln -s a /p/l && chmod 600 /p/a && chown 5:6 /p/a"
    run("run", "--name", name, "busybox", "sh", "-c", script)
    run("commit", name, f"{name}:img")
    run("rm", name)
    listing = run("run", "--rm", "-v", f"{name}:/p", f"{name}:img", "ls", "-ln", "/p")
    run("rmi", f"{name}:img")
    # "/" holds both engines' data roots (rslave), /etc neither (rprivate)
    cid = run("create", "-v", f"{name}:/v:ro", "-v", "/anon", "-v", "/:/b", "-v", "/etc:/e",
              "busybox").strip()  # fmt: skip
    mounts = json.loads(run("inspect", "-f", "{{json .Mounts}}", cid))
    run("rm", "-v", cid)
    run("volume", "rm", name)
    shaped = []
    for m in sorted(mounts, key=lambda m: m["Destination"]):
        m = dict(m)
        if m["Type"] == "volume":
            if len(m["Name"]) == 64:
                m["Name"] = "<anon>"
            m["Source"] = m["Source"].replace(volumes_root, "<root>").replace(name, "<name>")
            m["Name"] = m["Name"].replace(name, "<name>")
            if m["Name"] == "<anon>":
                m["Source"] = "<anon-source>"
        shaped.append(m)
    # mode, links, owner, group, size and name of each entry (not the dates)
    rows = sorted(
        " ".join(line.split()[:5] + line.split()[8:]) for line in listing.splitlines()[1:]
    )
    return "\n".join(rows), shaped


@pytest.mark.skipif(not oracle.available(), reason="dockerd is not installed")
def test_populate_and_mounts_match_dockerd(daemon: Daemon, tmp_path: Path) -> None:
    """S8, S9 differential: what `-v name:/etc` copies and how `.Mounts` looks, vs dockerd."""

    def ours(*args: str) -> str:
        return ok(docker(daemon, *args))

    ours_result = _populate_and_mounts(ours, str(daemon.data_root / "volumes"))
    with oracle.private_dockerd(Path(tempfile.mkdtemp(prefix="dy-vol-oracle-"))) as sock:
        base = str(Path(sock).parent / "data" / "volumes")

        def theirs(*args: str) -> str:
            r = oracle.docker(sock, *args)
            assert r.returncode == 0, r.stderr
            return r.stdout.decode()

        theirs_result = _populate_and_mounts(theirs, base)
    assert ours_result == theirs_result, (ours_result, theirs_result)
