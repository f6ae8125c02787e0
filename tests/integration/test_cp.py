"""`cp` and the archive API on a private daemon (S11): Docker's path rules in both directions,
running and stopped containers, volumes/binds/tmpfs, read-only errors, and escape attempts
(symlinks and `..`, planted before or during the copy) that must never reach a host file."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import Daemon, UnixHTTPConnection

pytestmark = pytest.mark.integration

SETUP = (
    "umask 022 && mkdir -p /d/sub /e && echo hi > /d/f && echo g > /d/sub/g && ln -s /etc /d/l "
    "&& ln -s f /d/rl && ln -s sub /d/rs && echo x > /e/x"
)


def sh(d: Daemon, cid: str, script: str) -> str:
    r = d.dockyard("exec", cid, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r.stdout


def cp(d: Daemon, *args: str) -> tuple[int, str]:
    r = d.dockyard("cp", *args)
    return r.returncode, r.stderr.strip()


@pytest.fixture
def ctr(daemon: Daemon) -> Iterator[str]:
    r = daemon.dockyard("run", "-d", "busybox", "sleep", "600")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    sh(daemon, cid, SETUP)
    yield cid
    daemon.dockyard("rm", "-f", cid)


def request(d: Daemon, method: str, cid: str, path: str, body: bytes | None = None,
            query: str = "") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    conn = UnixHTTPConnection(str(d.socket))
    conn.request(method, f"/containers/{cid}/archive?path={quote(path)}{query}", body=body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def stat(d: Daemon, cid: str, path: str) -> dict[str, object]:
    status, headers, _ = request(d, "HEAD", cid, path)
    assert status == 200, path
    doc: dict[str, object] = json.loads(base64.b64decode(headers["x-docker-container-path-stat"]))
    return doc


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.name + ("/" if m.isdir() and m.name != "/" else "") for m in tf]


def make_tar(*entries: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti in entries:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def entry(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.size, ti.mode = kind, link, size, 0o644
    return ti


# ---- the archive API ------------------------------------------------------------------------


def test_stat_header_shape_and_go_file_modes(daemon: Daemon, ctr: str) -> None:
    """S11: HEAD returns Docker's ContainerPathStat with Go os.FileMode bits."""
    d = stat(daemon, ctr, "/d")
    assert d["name"] == "d" and d["mode"] == (1 << 31) | 0o755 and d["linkTarget"] == ""
    assert str(d["mtime"]).endswith("Z")
    f = stat(daemon, ctr, "/d/f")
    assert f["size"] == 3 and f["mode"] == 0o644
    assert stat(daemon, ctr, "/d/l") == {**stat(daemon, ctr, "/d/l"), "mode": (1 << 27) | 0o777,
                                         "linkTarget": "/etc"}  # fmt: skip
    assert stat(daemon, ctr, "/d/rl")["linkTarget"] == "/d/f"
    assert stat(daemon, ctr, "/d/l/")["mode"] == (1 << 31) | 0o755  # trailing "/" follows
    assert stat(daemon, ctr, "/")["name"] == "/"
    assert stat(daemon, ctr, "/d/.")["name"] == "."
    status, _, body = request(daemon, "GET", ctr, "/nope")
    assert (
        status == 404
        and json.loads(body)["message"] == f"Could not find the file /nope in container {ctr}"
    )
    assert request(daemon, "HEAD", ctr, "/nope")[0] == 404


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/d/f", ["f"]),
        ("/d", ["d/", "d/f", "d/l", "d/rl", "d/rs", "d/sub/", "d/sub/g"]),
        ("/d/", ["d/", "d/f", "d/l", "d/rl", "d/rs", "d/sub/", "d/sub/g"]),
        ("/d/.", ["./", "./f", "./l", "./rl", "./rs", "./sub/", "./sub/g"]),
        ("/d/rs", ["rs"]),
        ("/d/rs/", ["rs/", "rs/g"]),
        ("/d/sub/..", ["d/", "d/f", "d/l", "d/rl", "d/rs", "d/sub/", "d/sub/g"]),
    ],
)
def test_get_entry_names_follow_docker(
    daemon: Daemon, ctr: str, path: str, want: list[str]
) -> None:
    """S11: GET rebases entries on the requested name ("d/", "./", a followed link's own name)."""
    status, headers, data = request(daemon, "GET", ctr, path)
    assert status == 200 and "x-docker-container-path-stat" in headers
    assert names(data) == want


def test_put_errors_use_docker_wording(daemon: Daemon, ctr: str) -> None:
    """S11: PUT needs an existing directory; dir/non-dir swaps refused with noOverwriteDirNonDir."""
    tar = make_tar(entry("x", size=2), data=b"x\n")
    status, _, body = request(daemon, "PUT", ctr, "/d/f", tar)
    assert status == 400 and json.loads(body)["message"] == "extraction point is not a directory"
    status, _, body = request(daemon, "PUT", ctr, "/nodir", tar)
    assert status == 404
    over = make_tar(entry("sub", size=2), data=b"x\n")
    status, _, body = request(daemon, "PUT", ctr, "/d", over, "&noOverwriteDirNonDir=true")
    assert status == 400 and "cannot overwrite directory" in json.loads(body)["message"]
    # Through a symlink to a directory: /d/l -> /etc
    assert request(daemon, "PUT", ctr, "/d/l", tar)[0] == 200
    assert sh(daemon, ctr, "cat /etc/x") == "x\n"


def test_put_copy_uid_gid_and_ownership_from_tar(daemon: Daemon, ctr: str) -> None:
    """S11: ownership comes from the tar; copyUIDGID gives it to the container's user."""
    ti = entry("owned", size=1)
    ti.uid, ti.gid = 1234, 567
    assert request(daemon, "PUT", ctr, "/tmp", make_tar(ti, data=b"1"))[0] == 200
    assert sh(daemon, ctr, "stat -c %u:%g /tmp/owned") == "1234:567\n"
    assert request(daemon, "PUT", ctr, "/tmp", make_tar(ti, data=b"1"), "&copyUIDGID=1")[0] == 200
    assert sh(daemon, ctr, "stat -c %u:%g /tmp/owned") == "0:0\n"


def test_read_only_rootfs_and_volume(daemon: Daemon, tmp_path: Path) -> None:
    """S11 + S9: Docker's read-only wording for the rootfs and for a read-only bind."""
    (tmp_path / "ro").mkdir()
    r = daemon.dockyard("create", "--read-only", "-v", f"{tmp_path / 'ro'}:/ro:ro",
                        "-v", f"{tmp_path}:/rw", "busybox")  # fmt: skip
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        tar = make_tar(entry("x", size=1), data=b"1")
        status, _, body = request(daemon, "PUT", cid, "/tmp", tar)
        assert (
            status == 400 and json.loads(body)["message"] == "container rootfs is marked read-only"
        )
        status, _, body = request(daemon, "PUT", cid, "/ro", tar)
        assert status == 400 and json.loads(body)["message"] == "mounted volume is marked read-only"
        # An entry that crosses into the read-only mount from a writable one is refused too.
        assert (
            request(daemon, "PUT", cid, "/", make_tar(entry("ro/y", size=1), data=b"1"))[0] == 400
        )
        assert request(daemon, "PUT", cid, "/rw", tar)[0] == 200
        assert (tmp_path / "x").read_bytes() == b"1" and not (tmp_path / "ro" / "y").exists()
    finally:
        daemon.dockyard("rm", "-f", cid)


def test_volumes_binds_and_tmpfs_are_in_the_view(daemon: Daemon, tmp_path: Path) -> None:
    """S11: copies go through volumes and binds, running or stopped; tmpfs while running."""
    r = daemon.dockyard("run", "-d", "-v", f"{tmp_path}:/b", "-v", "cpvol:/v", "--tmpfs", "/t",
                        "busybox", "sleep", "600")  # fmt: skip
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    src = tmp_path / "src.txt"
    src.write_text("data\n")
    try:
        for dest in ("/b/in", "/v/in", "/t/in"):
            code, err = cp(daemon, str(src), f"{cid}:{dest}")
            assert code == 0, err
            assert sh(daemon, cid, f"cat {dest}") == "data\n"
        assert (tmp_path / "in").read_text() == "data\n"
        status, _, data = request(daemon, "GET", cid, "/")
        assert {"/b/in", "/v/in", "/t/in"} <= set(names(data))
        assert daemon.dockyard("stop", "-t", "0", cid).returncode == 0
        out = tmp_path / "out"
        assert cp(daemon, f"{cid}:/v/in", str(out))[0] == 0 and out.read_text() == "data\n"
    finally:
        daemon.dockyard("rm", "-f", "-v", cid)
        daemon.dockyard("volume", "rm", "cpvol")


# ---- escapes --------------------------------------------------------------------------------


def test_symlinks_resolve_inside_the_container(daemon: Daemon, ctr: str, tmp_path: Path) -> None:
    """S11 escape: absolute and relative links to a host path never read or write host files."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s").write_text("host secret\n")
    sh(daemon, ctr, f"ln -s {secret} /abs && ln -s ../../../../../../..{secret} /d/rel")
    for src in ("/abs/s", "/d/rel/s"):
        status, _, body = request(daemon, "GET", ctr, src)
        assert status == 404, body
        assert cp(daemon, "-L", f"{ctr}:{src}", str(tmp_path / "o"))[0] != 0
    assert stat(daemon, ctr, "/d/rel")["linkTarget"] == str(secret)  # resolved in scope
    src = tmp_path / "f"
    src.write_text("evil\n")
    for dest in ("/abs/", "/d/rel/", "/abs/new", "/d/rel"):
        cp(daemon, str(src), f"{ctr}:{dest}")
    tar = make_tar(entry("f", size=5), data=b"evil\n")
    assert request(daemon, "PUT", ctr, "/abs", tar)[0] == 404
    assert sorted(os.listdir(secret)) == ["s"] and not (tmp_path / "o").exists()


def test_malicious_tar_entries_stay_inside(daemon: Daemon, ctr: str, tmp_path: Path) -> None:
    """S11 escape: `..`, absolute names and a symlink planted by the tar itself."""
    for bad in (
        make_tar(entry("../../../../../../" + str(tmp_path / "a").lstrip("/"), size=1), data=b"1"),
        make_tar(entry("l", tarfile.SYMTYPE, str(tmp_path)), entry("l/b", size=1), data=b"1"),
        make_tar(entry("h", tarfile.LNKTYPE, "../../../../etc/passwd")),
    ):
        request(daemon, "PUT", ctr, "/tmp", bad)
    absolute = make_tar(entry(str(tmp_path / "c"), size=1), data=b"1")
    assert request(daemon, "PUT", ctr, "/tmp", absolute)[0] == 200  # lands inside /tmp
    assert os.listdir(tmp_path) == []


def test_symlink_swapped_in_during_copy_never_escapes(
    daemon: Daemon, ctr: str, tmp_path: Path
) -> None:
    """S11 escape: a directory flipped to a symlink to a host path while copies run."""
    target = tmp_path / "target"
    target.mkdir()
    sh(daemon, ctr, "mkdir -p /race/d")
    flip = f"while :; do rm -rf /race/d; ln -s {target} /race/d; rm -f /race/d; mkdir /race/d; done"
    r = daemon.dockyard("exec", "-d", ctr, "sh", "-c", flip)
    assert r.returncode == 0, r.stderr
    tar = make_tar(entry("d/f", size=1), data=b"1")
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            request(daemon, "GET", ctr, "/race/d/")

    t = threading.Thread(target=reader)
    t.start()
    try:
        statuses = [request(daemon, "PUT", ctr, "/race", tar)[0] for _ in range(60)]
    finally:
        stop.set()
        t.join()
    assert os.listdir(target) == []
    assert 200 in statuses  # the copies did run while the flips happened


def test_client_refuses_escaping_symlink_from_container(
    daemon: Daemon, ctr: str, tmp_path: Path
) -> None:
    """S11 escape (client side): a relative link leaving the destination is refused, as docker."""
    sh(daemon, ctr, "ln -s ../../../../../../../../etc/passwd /d/esc")
    code, err = cp(daemon, f"{ctr}:/d/esc", str(tmp_path / "esc"))
    assert (
        code == 1
        and err == f'invalid symlink "{tmp_path}/esc" -> "../../../../../../../../etc/passwd"'
    )
    assert not (tmp_path / "esc").exists()


def test_copy_cut_short_leaves_no_truncated_file(daemon: Daemon, ctr: str) -> None:
    """R1, S11: a copy whose body ends early (a client gone, or a daemon killed: the extractor
    sees the same end of its input) leaves neither a truncated new file nor a damaged old one;
    a file appears under its name only once complete."""
    import socket
    import time

    size = 4 << 20
    whole = make_tar(entry("big", size=size), entry("f", size=size), data=b"z" * size)
    for path in ("/tmp", "/d"):  # a new name, and over the existing /d/f ("hi")
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(daemon.socket))
        s.sendall(f"PUT /containers/{ctr}/archive?path={quote(path)} HTTP/1.1\r\nHost: d\r\n"
                  f"Content-Type: application/x-tar\r\nContent-Length: {len(whole)}\r\n\r\n"
                  .encode())  # fmt: skip
        s.sendall(whole[: 512 + (1 << 20)])  # big's header and 1 MiB of its 4
        s.close()
        deadline = time.monotonic() + 20
        listing = ""  # settled once two listings 0.2 s apart agree
        while time.monotonic() < deadline:
            listing = sh(daemon, ctr, f"ls -la {path}")
            time.sleep(0.2)
            if listing == sh(daemon, ctr, f"ls -la {path}"):
                break
        assert " big" not in listing, listing
    assert sh(daemon, ctr, "cat /d/f") == "hi\n"
    # and a whole copy still works, replacing the old file
    assert request(daemon, "PUT", ctr, "/d", make_tar(entry("f", size=3), data=b"new"))[0] == 200
    assert sh(daemon, ctr, "cat /d/f") == "new"
