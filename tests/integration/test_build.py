"""POST /build against the session daemon (MISSION S1): layers per RUN/COPY/ADD, history,
cache hits and invalidation, multi-stage COPY --from, .dockerignore, build args, ONBUILD,
errors, and nothing left behind by a failing RUN."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.parse
from typing import Any

import pytest

from tests.conftest import Daemon, UnixHTTPConnection

pytestmark = pytest.mark.integration


def context_tar(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            ti = tarfile.TarInfo(name)
            ti.size = len(raw)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def build(
    daemon: Daemon,
    files: dict[str, bytes | str] | None = None,
    raw: bytes | None = None,
    **query: Any,
) -> tuple[int, list[dict[str, Any]]]:
    body = raw if raw is not None else context_tar(files or {})
    pairs: list[tuple[str, str]] = []
    for k, v in query.items():
        for item in v if isinstance(v, list) else [v]:
            pairs.append((k, json.dumps(item) if isinstance(item, dict) else str(item)))
    conn = UnixHTTPConnection(str(daemon.socket), timeout=120)
    conn.request("POST", "/build?" + urllib.parse.urlencode(pairs), body=body,
                 headers={"Content-Type": "application/x-tar"})  # fmt: skip
    resp = conn.getresponse()
    payload = resp.read().decode()
    conn.close()
    if resp.status != 200:
        return resp.status, [json.loads(payload)]
    return resp.status, [json.loads(line) for line in payload.splitlines() if line.strip()]


def text(msgs: list[dict[str, Any]]) -> str:
    return "".join(m.get("stream", "") for m in msgs)


def image_id(msgs: list[dict[str, Any]]) -> str:
    ids = [m["aux"]["ID"] for m in msgs if "aux" in m]
    assert ids, text(msgs) + json.dumps(msgs[-1])
    return str(ids[-1])


def inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    status, body = daemon.api("GET", f"/images/{ref}/json")
    assert status == 200, body
    return dict(body)


def test_layers_history_and_stream(daemon: Daemon) -> None:
    """S1: one layer per RUN/COPY, empty_layer history for metadata, Docker's stream format."""
    df = 'FROM busybox\nENV A=1\nCOPY f /data/\nRUN echo hi > /data/g && rm /data/f\nCMD ["cat", "/data/g"]\n'
    status, msgs = build(daemon, {"Dockerfile": df, "f": "x"}, t="dy-build-layers:1", nocache=1)
    assert status == 200
    out = text(msgs)
    assert "Step 1/5 : FROM busybox\n" in out
    assert "Step 4/5 : RUN echo hi > /data/g && rm /data/f\n ---> Running in " in out
    assert "Removing intermediate container" in out
    assert out.rstrip().endswith("Successfully tagged dy-build-layers:1")
    img = inspect(daemon, "dy-build-layers:1")
    base = inspect(daemon, "busybox")
    assert len(img["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 2
    assert img["RootFS"]["Layers"][: len(base["RootFS"]["Layers"])] == base["RootFS"]["Layers"]
    assert img["Config"]["Cmd"] == ["cat", "/data/g"]
    assert "A=1" in img["Config"]["Env"]
    status, hist = daemon.api("GET", "/images/dy-build-layers:1/history")
    by = [h["CreatedBy"] for h in hist]
    assert by[0] == '/bin/sh -c #(nop)  CMD ["cat" "/data/g"]'
    assert by[1] == "/bin/sh -c echo hi > /data/g && rm /data/f"
    assert by[2].startswith("/bin/sh -c #(nop) COPY file:") and by[2].endswith(" in /data/ ")
    assert by[3] == "/bin/sh -c #(nop)  ENV A=1"
    # The RUN layer records the deletion of /data/f as a whiteout.
    r = daemon.dockyard("run", "--rm", "dy-build-layers:1")
    assert r.stdout == "hi\n", r.stderr
    r = daemon.dockyard("run", "--rm", "dy-build-layers:1", "ls", "/data")
    assert r.stdout.split() == ["g"]


def test_cache_hits_and_invalidation(daemon: Daemon) -> None:
    """S1: a second build reuses every step; editing a file busts from the first step reading it."""
    df = "FROM busybox\nRUN echo one > /one\nCOPY a /a\nRUN cat /a > /b\nCOPY c /c\n"
    files: dict[str, bytes | str] = {"Dockerfile": df, "a": "A", "c": "C"}
    _, first = build(daemon, files)
    _, second = build(daemon, files)
    assert image_id(first) == image_id(second)
    assert text(second).count(" ---> Using cache") == 4
    _, third = build(daemon, {**files, "a": "A2"})
    out = text(third)
    assert out.count(" ---> Using cache") == 1  # only the RUN before COPY a
    assert image_id(third) != image_id(first)
    # The same content under a newer mtime is still a hit (hash of content, not mtime).
    _, fourth = build(daemon, {**files, "a": "A2"})
    assert text(fourth).count(" ---> Using cache") == 4
    _, fifth = build(daemon, files, nocache=1)
    assert " ---> Using cache" not in text(fifth)


def test_multistage_copy_from_and_target(daemon: Daemon) -> None:
    """S1: COPY --from a named stage; --target stops at that stage."""
    df = (
        "FROM busybox AS builder\nRUN mkdir /out && echo built > /out/result\n"
        'FROM busybox\nCOPY --from=builder /out/result /r\nCMD ["cat", "/r"]\n'
    )
    status, msgs = build(daemon, {"Dockerfile": df}, t="dy-build-multi")
    assert status == 200, msgs
    r = daemon.dockyard("run", "--rm", "dy-build-multi")
    assert r.stdout == "built\n", r.stderr
    _, msgs = build(daemon, {"Dockerfile": df}, target="builder", t="dy-build-target")
    assert "Step 3/5" not in text(msgs)
    img = inspect(daemon, "dy-build-target")
    assert img["Config"]["Cmd"] == ["sh"]


def test_dockerignore_and_build_args(daemon: Daemon) -> None:
    """S1: .dockerignore with ** and !; ARG defaults and --build-arg; ENV expansion."""
    df = (
        'ARG BASE=busybox\nFROM $BASE\nARG WHO=world\nENV GREETING="hello ${WHO}"\n'
        "COPY . /ctx/\nRUN echo $GREETING > /g\n"
    )
    files: dict[str, bytes | str] = {
        "Dockerfile": df,
        ".dockerignore": "**/*.log\nsecret\n!keep.log\n",
        "keep.log": "k",
        "a/b/drop.log": "d",
        "secret": "s",
        "ok.txt": "o",
    }
    status, msgs = build(daemon, files, t="dy-build-args", buildargs={"WHO": "dock", "NOPE": "1"})
    assert status == 200, msgs
    assert "[Warning] One or more build-args [NOPE] were not consumed" in text(msgs)
    r = daemon.dockyard(
        "run", "--rm", "dy-build-args", "sh", "-c", "cat /g; find /ctx -type f | sort"
    )
    assert r.stdout.split("\n")[0] == "hello dock"
    listed = r.stdout.split("\n")[1:]
    assert "/ctx/ok.txt" in listed and "/ctx/keep.log" in listed
    assert "/ctx/secret" not in listed and "/ctx/a/b/drop.log" not in listed


def test_onbuild_triggers(daemon: Daemon) -> None:
    """S1: ONBUILD is stored in the config and runs in the child build."""
    _, msgs = build(
        daemon,
        {"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /t\n"},
        t="dy-onbuild-base",
    )
    assert inspect(daemon, "dy-onbuild-base")["Config"]["OnBuild"] == ["RUN echo triggered > /t"]
    _, msgs = build(
        daemon, {"Dockerfile": "FROM dy-onbuild-base\nRUN cat /t\n"}, t="dy-onbuild-child"
    )
    out = text(msgs)
    assert "# Executing 1 build trigger\n" in out and "triggered\n" in out
    assert not inspect(daemon, "dy-onbuild-child")["Config"].get("OnBuild")


def test_errors(daemon: Daemon) -> None:
    """S1: Docker's wording and statuses for bad Dockerfiles and contexts."""
    status, body = build(daemon, {"Dockerfile": "FROM busybox\nFOO bar\n"})
    assert (status, body[0]["message"]) == (
        400,
        "dockerfile parse error line 2: unknown instruction: FOO",
    )
    status, body = build(daemon, {"Dockerfile": "RUN true\n"})
    assert (status, body[0]["message"]) == (400, "no build stage in current context")
    status, body = build(daemon, {"Dockerfile": ""})
    assert (status, body[0]["message"]) == (400, "the Dockerfile (Dockerfile) cannot be empty")
    status, body = build(daemon, {"Dockerfile": "FROM busybox\nSHELL sh -c\n"})
    assert (
        body[0]["message"]
        == "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form"
    )
    status, body = build(daemon, {"x": "y"})
    assert (status, body[0]["message"]) == (400, "Cannot locate specified Dockerfile: Dockerfile")
    status, msgs = build(daemon, {"Dockerfile": "FROM busybox\nCOPY nope /\n"})
    assert msgs[-1]["error"] == (
        "COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist"
    )
    status, msgs = build(daemon, {"Dockerfile": "FROM busybox\nCOPY ../x /\n"})
    assert msgs[-1]["error"] == "COPY failed: forbidden path outside the build context: ../x ()"
    status, msgs = build(daemon, {"Dockerfile": "FROM busybox\nADD http://example.invalid/x /\n"})
    assert msgs[-1]["error"].startswith('ADD failed: Get "http://example.invalid/x"')
    status, body = build(daemon, raw=b"this is not a tar" * 100)
    assert status == 400


def test_failing_run_leaves_nothing(daemon: Daemon) -> None:
    """S1: a failing RUN stops with Docker's message and code; its container is removed."""
    contexts_before = set((daemon.data_root / "tmp").glob("build-*"))
    status, msgs = build(daemon, {"Dockerfile": "FROM busybox\nRUN echo out; exit 3\n"})
    assert status == 200
    assert msgs[-1]["errorDetail"] == {
        "code": 3,
        "message": "The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3",
    }
    assert "out\n" in text(msgs)
    _, after = daemon.api("GET", "/containers/json?all=1")
    assert not [c for c in after if "exit 3" in c["Command"]]  # the step's container is gone
    # the context is gone too (compared with before: other tests' builds are not ours)
    assert set((daemon.data_root / "tmp").glob("build-*")) <= contexts_before


def test_context_tar_with_escaping_paths(daemon: Daemon, tmp_path: Any) -> None:
    """Bad input: `..` names are refused, absolute names stay inside the context."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("../../escape")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    status, body = build(daemon, raw=buf.getvalue())
    assert status == 400 and "outside of the build context" in body[0]["message"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY etc/f /f\n"), ("/etc/f", b"abs")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        dev = tarfile.TarInfo("null")
        dev.type = tarfile.CHRTYPE
        tf.addfile(dev)
    status, body = build(daemon, raw=buf.getvalue())
    assert status == 400 and "device" in body[0]["message"]


def test_copy_add_flags_wildcards_and_tars(daemon: Daemon) -> None:
    """S1: --chown/--chmod, wildcards, directories, ADD of a local tar extracts it."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tf:
        ti = tarfile.TarInfo("pkg/readme")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"ok\n"))
    df = (
        "FROM busybox\nCOPY --chown=1000:1000 --chmod=600 *.txt /w/\nCOPY dir /d\n"
        "ADD pkg.tar.gz /opt/\nCOPY pkg.tar.gz /raw/\nCOPY c.md /tmp\n"
    )
    files: dict[str, bytes | str] = {
        "Dockerfile": df,
        "a.txt": "a",
        "b.txt": "b",
        "c.md": "c",
        "dir/sub/x": "x\n",
        "pkg.tar.gz": inner.getvalue(),
    }
    status, msgs = build(daemon, files, t="dy-build-copy")
    assert status == 200, msgs
    script = "stat -c '%n %u %g %a' /w/*; cat /d/sub/x /opt/pkg/readme; ls /raw; ls /tmp -ld | cut -c1-10"
    r = daemon.dockyard("run", "--rm", "dy-build-copy", "sh", "-c", script)
    assert r.stdout.splitlines() == [
        "/w/a.txt 1000 1000 600",
        "/w/b.txt 1000 1000 600",
        "x",
        "ok",
        "pkg.tar.gz",
        "drwxrwxrwt",  # an existing directory keeps its mode
    ], r.stderr


def test_metadata_instructions_and_scratch(daemon: Daemon) -> None:
    """S1: config of every metadata instruction; FROM scratch; SHELL changes RUN's shell."""
    df = (
        'FROM busybox\nSHELL ["/bin/sh", "-xc"]\nRUN true\nUSER 1:1\nEXPOSE 80 53/udp\n'
        'VOLUME /data\nSTOPSIGNAL SIGKILL\nLABEL a=b "c d"=e\nHEALTHCHECK --retries=3 CMD true\n'
        'ENTRYPOINT ["sh"]\n'
    )
    status, msgs = build(daemon, {"Dockerfile": df}, t="dy-build-meta", labels={"from": "api"})
    assert status == 200, msgs
    assert "+ true" in text(msgs)  # sh -x traced the RUN
    cfg = inspect(daemon, "dy-build-meta")["Config"]
    assert cfg["User"] == "1:1" and cfg["StopSignal"] == "SIGKILL"
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp"} and cfg["Volumes"] == {"/data": {}}
    assert cfg["Labels"] == {"a": "b", "c d": "e", "from": "api"}
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Retries": 3}
    assert cfg["Entrypoint"] == ["sh"] and cfg["Cmd"] is None
    status, msgs = build(
        daemon, {"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x"}, t="dy-scratch"
    )
    assert status == 200, msgs
    assert len(inspect(daemon, "dy-scratch")["RootFS"]["Layers"]) == 1


def test_pull_and_prune(daemon: Daemon) -> None:
    """S1, E5: --pull pulls the base (here from a registry that does not answer: dockerd's
    words); POST /build/prune answers Docker's shape."""
    status, msgs = build(daemon, {"Dockerfile": "FROM busybox\n"}, pull=1)
    assert "connect: connection refused" in msgs[-1]["error"], msgs
    status, body = daemon.api("POST", "/build/prune")
    assert status == 200 and body["SpaceReclaimed"] == 0
