"""The registry harness (tests/registry.py) that the tests of #13 (E5: pull/push/login/mirrors)
stand on, proven against independent clients before any dockyard code relies on it: skopeo pushes
to and pulls from open, Basic, token and TLS registries; the harness's token server grants what
Docker's token flow asks, and the registry really checks its signatures; a TLS registry on an
address of the test's own wants client certificates when asked to; OCI layouts keep zstd
layers and platform indexes as written; a real dockerd pushes busybox, pulls it back, and pulls it
through a `proxy_of` mirror."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import json
import ssl
import subprocess
import tarfile
import time
import urllib.parse
from pathlib import Path

import pytest

from tests import oracle as oracle_dockerd
from tests import registry as R
from tests.ownaddress import own_address

pytestmark = pytest.mark.integration


def two_layers() -> list[dict[str, R.Entry]]:
    return [
        {"etc/motd": b"hello\n", "bin/run": b"#!/bin/sh\necho run\n", "lib": R.Directory()},
        {"etc/.wh.motd": b"", "srv/link": R.Symlink("/etc/motd"), "srv/data": R.File(b"d", 0o600)},
    ]


def members(tar: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return t.getmembers()


def refused(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/v2/")
        conn.getresponse()
    except ConnectionRefusedError:
        return True
    finally:
        conn.close()
    return False


def docker(sock: str, *args: str) -> str:
    p = oracle_dockerd.docker(sock, *args)
    assert p.returncode == 0, (args, p.stderr.decode())
    return p.stdout.decode()


def test_layout_is_reproducible_and_correct(tmp_path: Path) -> None:
    """Same content, same digests; layers are real tars whose uncompressed sha256 are the
    config's diff_ids, with parents added, modes kept, whiteouts and symlinks as written."""
    a = R.oci_layout(tmp_path / "a", two_layers())
    b = R.oci_layout(tmp_path / "b", two_layers())
    assert a == b
    assert json.loads((tmp_path / "a" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"
    }
    blobs = tmp_path / "a" / "blobs" / "sha256"
    man = json.loads((blobs / a.removeprefix("sha256:")).read_bytes())
    assert man["mediaType"] == R.OCI_MANIFEST
    cfg = json.loads((blobs / man["config"]["digest"].removeprefix("sha256:")).read_bytes())
    assert (cfg["os"], cfg["architecture"], cfg["config"]["Cmd"]) == ("linux", "amd64", ["sh"])
    assert len(cfg["history"]) == 2
    tars = [gzip.decompress((blobs / lay["digest"][7:]).read_bytes()) for lay in man["layers"]]
    assert cfg["rootfs"]["diff_ids"] == [R.sha256(t) for t in tars]
    first, second = ({m.name: m for m in members(t)} for t in tars)
    assert list(first) == ["bin", "bin/run", "etc", "etc/motd", "lib"]
    assert first["bin/run"].mode == 0o755 and first["etc/motd"].mode == 0o644
    assert second["srv/link"].issym() and second["srv/link"].linkname == "/etc/motd"
    assert second["etc/.wh.motd"].size == 0 and second["srv/data"].mode == 0o600
    extra = R.oci_layout(tmp_path / "c", two_layers(), config_extra={"config": {"Cmd": ["x"]}})
    assert extra != a


def test_open_registry_serves_what_skopeo_pushed(tmp_path: Path) -> None:
    digest = R.oci_layout(tmp_path / "img", two_layers())
    with R.registry(tmp_path) as reg:
        assert reg.url == f"http://{reg.host}" and reg.auth is None and reg.ca_cert is None
        assert R.skopeo_push(tmp_path / "img", "team/app:1", reg) == digest
        ctype, served, man = R.manifest(reg, "team/app:1")
        assert (ctype, served) == (R.OCI_MANIFEST, digest)
        status, _, raw = R.http_get(reg, f"/v2/team/app/manifests/{digest}")
        assert status == 200 and R.sha256(raw) == digest
        for layer in man["layers"]:
            assert R.sha256(R.blob(reg, "team/app", layer["digest"])) == layer["digest"]
        assert json.loads(R.http_get(reg, "/v2/_catalog")[2]) == {"repositories": ["team/app"]}
        tags = json.loads(R.http_get(reg, "/v2/team/app/tags/list")[2])
        assert tags == {"name": "team/app", "tags": ["1"]}
        assert ("PUT", "/v2/team/app/manifests/1", 201) in reg.requests()
        pulled = R.skopeo_pull("team/app:1", reg, tmp_path / "pulled")
        assert R.layout_top(pulled)["digest"] == digest
        port, proc = reg.port, reg.proc
        assert (reg.storage / "docker" / "registry" / "v2" / "repositories" / "team").is_dir()
    assert proc is not None and proc.poll() is not None
    assert refused(port)
    assert not reg.storage.exists() and reg.log.is_file()  # the blobs go, the log stays


def test_basic_auth_registry(tmp_path: Path) -> None:
    R.oci_layout(tmp_path / "img", two_layers())
    with R.registry(tmp_path, auth="basic") as reg:
        assert reg.user and reg.password
        assert (reg.base / "htpasswd").read_text().startswith(f"{reg.user}:$2y$")
        status, headers, _ = R.http_get(reg, "/v2/", anon=True)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
        assert R.http_get(reg, "/v2/", creds=(reg.user, "wrong"))[0] == 401
        assert R.http_get(reg, "/v2/")[0] == 200
        with pytest.raises(RuntimeError, match="unauthorized"):
            R.skopeo_push(tmp_path / "img", "team/app:1", reg, creds=(reg.user, "wrong"))
        digest = R.skopeo_push(tmp_path / "img", "team/app:1", reg)
        assert R.manifest(reg, "team/app:1")[1] == digest
        assert R.http_get(reg, "/v2/team/app/manifests/1", anon=True)[0] == 401
        with pytest.raises(RuntimeError, match="unauthorized"):
            R.skopeo_inspect("team/app:1", reg, anon=True)
        config = json.loads(reg.docker_config(tmp_path / "dockercfg").read_text())
        auth = base64.b64decode(config["auths"][reg.host]["auth"]).decode()
        assert auth == f"{reg.user}:{reg.password}"


def test_token_auth_registry(tmp_path: Path) -> None:
    """skopeo with --dest-creds and anonymously drives the harness's token server; every request
    is recorded; anonymous clients get pull on public/ only; the registry checks signatures."""
    R.oci_layout(tmp_path / "img", two_layers())
    with R.registry(tmp_path, auth="token") as reg:
        assert reg.realm and reg.realm.startswith("http://127.0.0.1:")
        status, headers, _ = R.http_get(reg, "/v2/", anon=True, follow_challenge=False)
        scheme, params = R.parse_challenge(headers["WWW-Authenticate"])
        assert status == 401 and scheme == "bearer"
        assert params == {"realm": reg.realm, "service": reg.service}
        assert R.http_get(reg, "/v2/", anon=True)[0] == 200  # any valid token, even anonymous
        assert reg.token_requests[-1].user is None and reg.token_requests[-1].scopes == []

        reg.token_requests.clear()
        digest = R.skopeo_push(tmp_path / "img", "team/app:1", reg)
        asked = reg.token_requests[0]
        assert (asked.method, asked.user, asked.authenticated, asked.status) == (
            "GET", reg.user, True, 200)  # fmt: skip
        assert asked.scopes == ["repository:team/app:pull,push"]
        assert asked.access == [{"type": "repository", "name": "team/app",
                                 "actions": ["pull", "push"]}]  # fmt: skip

        # Anonymous: a push to public/ gets a pull-only token, which the registry refuses.
        reg.token_requests.clear()
        with pytest.raises(RuntimeError, match="denied"):
            R.skopeo_push(tmp_path / "img", "public/tool:1", reg, anon=True)
        anon = [r for r in reg.token_requests if not r.authenticated]
        assert anon and all(r.user is None for r in anon)
        assert "repository:public/tool:pull,push" in anon[0].scopes
        assert {"type": "repository", "name": "public/tool", "actions": ["pull"]} in anon[0].access

        # Pushed with credentials, public/ pulls anonymously; other repositories do not.
        assert R.skopeo_push(tmp_path / "img", "public/tool:1", reg) == digest
        reg.token_requests.clear()
        R.skopeo_pull("public/tool:1", reg, tmp_path / "pulled", anon=True)
        assert reg.scopes_requested(authenticated=False) == ["repository:public/tool:pull"] * len(
            reg.token_requests
        )
        assert reg.scopes_requested(authenticated=True) == []
        with pytest.raises(RuntimeError, match="denied|unauthorized"):
            R.skopeo_inspect("team/app:1", reg, anon=True)
        assert reg.token_requests[-1].access == []

        # The catalog wants registry:catalog:*; http_get follows the challenge.
        reg.token_requests.clear()
        catalog = json.loads(R.http_get(reg, "/v2/_catalog")[2])
        assert catalog == {"repositories": ["public/tool", "team/app"]}
        assert reg.scopes_requested() == ["registry:catalog:*"]

        # The token itself: claims and header as distribution expects them.
        token = reg.token("repository:team/app:pull")
        claims = R.jwt_claims(token)
        assert (claims["iss"], claims["aud"], claims["sub"]) == (reg.issuer, reg.service, reg.user)
        assert claims["exp"] - claims["iat"] == R.TOKEN_TTL and claims["nbf"] <= claims["iat"]
        assert claims["jti"] and claims["access"][0]["actions"] == ["pull"]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["alg"] == "RS256" and len(header["x5c"]) == 1
        path = "/v2/team/app/manifests/1"
        assert R.http_get(reg, path, token=token)[0] == 200
        # A pull token does not push; a tampered token (claims widened) is rejected.
        put = R.http_get(reg, "/v2/team/app/blobs/uploads/", method="POST", token=token)
        assert put[0] == 401
        head, _, sig = token.split(".")
        claims["access"][0]["name"] = "public/tool"
        forged = f"{head}.{R.b64url(json.dumps(claims).encode())}.{sig}"
        assert R.http_get(reg, "/v2/public/tool/manifests/1", token=forged)[0] == 401

        # Wrong credentials: 401 from the token server, recorded.
        with pytest.raises(PermissionError):
            reg.token("repository:team/app:pull", creds=(reg.user or "", "wrong"))
        assert reg.token_requests[-1].status == 401 and not reg.token_requests[-1].authenticated

        # The OAuth2 password grant (POST) works too.
        u = urllib.parse.urlsplit(reg.realm)
        conn = http.client.HTTPConnection(u.netloc, timeout=10)
        form = urllib.parse.urlencode({"grant_type": "password", "service": reg.service,
                                       "client_id": "test", "username": reg.user,
                                       "password": reg.password,
                                       "scope": "repository:team/app:pull"})  # fmt: skip
        conn.request("POST", u.path, body=form,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        assert resp.status == 200 and reg.token_requests[-1].method == "POST"
        assert R.http_get(reg, path, token=body["access_token"])[0] == 200
        token_port = int(reg.realm.split(":")[2].split("/")[0])
    assert refused(token_port)


@pytest.mark.parametrize("auth", [None, "token"])
def test_tls_registry(tmp_path: Path, auth: str | None) -> None:
    R.oci_layout(tmp_path / "img", two_layers())
    with R.registry(tmp_path, tls=True, auth=auth) as reg:
        assert reg.url == f"https://{reg.host}" and reg.ca_cert and reg.certs_d
        assert (reg.certs_d / reg.host / "ca.crt").read_bytes() == reg.ca_cert.read_bytes()
        # Untrusted without the CA; both names of the certificate verify with it.
        untrusted = http.client.HTTPSConnection(reg.host, timeout=5)
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusted.request("GET", "/v2/")
        untrusted.close()
        for name in ("127.0.0.1", "localhost"):
            ctx = ssl.create_default_context(cafile=str(reg.ca_cert))
            conn = http.client.HTTPSConnection(f"{name}:{reg.port}", timeout=5, context=ctx)
            conn.request("GET", "/v2/")
            assert conn.getresponse().status == (401 if auth else 200)
            conn.close()
        plain = http.client.HTTPConnection(reg.host, timeout=5)
        plain.request("GET", "/v2/")
        assert plain.getresponse().status == 400  # an HTTP request to an HTTPS server
        plain.close()
        digest = R.skopeo_push(tmp_path / "img", "public/app:1", reg)
        assert R.manifest(reg, "public/app:1")[1] == digest
        if auth == "token":
            assert reg.realm and reg.realm.startswith("https://")
            R.skopeo_pull("public/app:1", reg, tmp_path / "pulled", anon=True)
            assert "repository:public/app:pull" in reg.scopes_requested(authenticated=False)


def get_v2(host: str, ca_cert: Path) -> int:
    """GET /v2/ over TLS trusting `ca_cert`, without a client certificate: the status."""
    conn = http.client.HTTPSConnection(host, timeout=5, context=ssl.create_default_context(
        cafile=str(ca_cert)))  # fmt: skip
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status
    finally:
        conn.close()


def test_tls_registry_at_an_own_address_with_client_certificates(tmp_path: Path) -> None:
    """A registry on an address of the test's own (tests/ownaddress.py) that wants client
    certificates: its certificate names that address; a client trusting the CA but without a
    client certificate is refused in the handshake; skopeo with certs_d/HOST (ca.crt,
    client.cert, client.key) pushes and the harness reads back. A certificate asked for another
    name does not verify for the address. The address is gone afterwards."""
    R.oci_layout(tmp_path / "img", two_layers())
    with own_address() as addr:
        with R.registry(tmp_path, tls=True, address=addr, client_certs=True) as reg:
            assert reg.host.startswith(f"{addr}:") and reg.ca_cert and reg.cert_dir
            assert sorted(p.name for p in reg.cert_dir.iterdir()) == [
                "ca.crt", "client.cert", "client.key"]  # fmt: skip
            with pytest.raises(ssl.SSLError, match="BAD_CERTIFICATE"):
                get_v2(reg.host, reg.ca_cert)
            digest = R.skopeo_push(tmp_path / "img", "t/app:1", reg)
            assert R.manifest(reg, "t/app:1")[1] == digest
        with R.registry(tmp_path, tls=True, address=addr, san="DNS:registry.invalid") as other:
            assert other.ca_cert
            with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
                get_v2(other.host, other.ca_cert)
    held = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    assert f" {addr}/" not in held


def test_zstd_and_uncompressed_layers_stay_as_written(tmp_path: Path) -> None:
    with R.registry(tmp_path) as reg:
        R.oci_layout(tmp_path / "zstd", two_layers(), compression="zstd")
        digest = R.skopeo_push(tmp_path / "zstd", "z/app:1", reg)
        ctype, served, man = R.manifest(reg, "z/app:1")
        assert (ctype, served) == (R.OCI_MANIFEST, digest)
        assert {lay["mediaType"] for lay in man["layers"]} == {R.OCI_LAYER["zstd"]}
        cfg = json.loads(R.blob(reg, "z/app", man["config"]["digest"]))
        for layer, diff_id in zip(man["layers"], cfg["rootfs"]["diff_ids"], strict=True):
            data = R.blob(reg, "z/app", layer["digest"])
            assert data[:4] == R.ZSTD_MAGIC
            tar = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True)
            assert R.sha256(tar.stdout) == diff_id
        with pytest.raises(ValueError, match="zstd"):
            R.skopeo_push(tmp_path / "zstd", "z/app:v2s2", reg, fmt="v2s2")

        R.oci_layout(tmp_path / "raw", two_layers(), compression="none")
        R.skopeo_push(tmp_path / "raw", "raw/app:1", reg)
        man = R.manifest(reg, "raw/app:1")[2]
        assert {lay["mediaType"] for lay in man["layers"]} == {R.OCI_LAYER["none"]}

        # Docker schema 2: converted by skopeo (a new digest), gzip layers.
        gz = R.oci_layout(tmp_path / "gz", two_layers())
        v2 = R.skopeo_push(tmp_path / "gz", "gz/app:1", reg, fmt="v2s2")
        ctype, served, man = R.manifest(reg, "gz/app:1")
        assert (ctype, served) == (R.DOCKER_MANIFEST, v2) and v2 != gz
        assert man["config"]["mediaType"] == R.DOCKER_CONFIG
        assert {lay["mediaType"] for lay in man["layers"]} == {R.DOCKER_LAYER}


def test_two_platform_index(tmp_path: Path) -> None:
    plats = [("linux", "amd64", ""), ("linux", "arm64", "v8")]
    digest = R.oci_layout(tmp_path / "multi", [{"a": b"a"}], platforms=plats)
    assert R.layout_top(tmp_path / "multi")["mediaType"] == R.OCI_INDEX
    with R.registry(tmp_path) as reg:
        assert R.skopeo_push(tmp_path / "multi", "multi/app:1", reg) == digest
        ctype, _, index = R.manifest(reg, "multi/app:1")
        assert ctype == R.OCI_INDEX
        got = [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]]
        assert got == [("linux", "amd64"), ("linux", "arm64")]
        assert index["manifests"][1]["platform"]["variant"] == "v8"
        for entry in index["manifests"]:
            ctype, served, man = R.manifest(reg, f"multi/app@{entry['digest']}")
            assert (ctype, served) == (R.OCI_MANIFEST, entry["digest"])
            cfg = json.loads(R.blob(reg, "multi/app", man["config"]["digest"]))
            assert cfg["architecture"] == entry["platform"]["architecture"]
        raw = R.skopeo_inspect("multi/app:1", reg)
        assert hashlib.sha256(raw).hexdigest() == digest.removeprefix("sha256:")
        # As Docker schema 2 the index becomes a manifest list.
        R.skopeo_push(tmp_path / "multi", "multi/app:v2", reg, fmt="v2s2")
        ctype, _, lst = R.manifest(reg, "multi/app:v2")
        assert ctype == R.DOCKER_LIST and len(lst["manifests"]) == 2


@pytest.mark.parametrize("tls", [False, True])
def test_proxy_of_an_authenticated_registry(tmp_path: Path, tls: bool) -> None:
    """A pull-through mirror of a token-auth registry (over HTTPS, trusting its CA) serves
    anonymous clients; the origin's token server saw the mirror's authenticated requests.
    (distribution 2.8 only hands its proxy credentials to Bearer realms: a Basic origin cannot
    be mirrored.)"""
    digest = R.oci_layout(tmp_path / "img", two_layers())
    with R.registry(tmp_path, auth="token", tls=tls) as origin:
        R.skopeo_push(tmp_path / "img", "team/app:1", origin)
        origin.token_requests.clear()
        with R.registry(
            tmp_path, proxy_of=origin.url, proxy_auth=origin.creds, proxy_ca=origin.ca_cert
        ) as mirror:
            assert mirror.proxy_of == origin.url and mirror.auth is None
            assert R.skopeo_inspect("team/app:1", mirror, anon=True)
            R.skopeo_pull("team/app:1", mirror, tmp_path / "pulled", anon=True)
            assert R.layout_top(tmp_path / "pulled")["digest"] == digest
            assert "repository:team/app:pull" in origin.scopes_requested(authenticated=True)
            assert origin.scopes_requested(authenticated=False) == []
            served = {(m, p) for m, p, status in origin.requests() if status == 200}
            assert ("GET", "/v2/team/app/manifests/1") in served  # only the mirror GETs


def forget_busybox(sock: str, *refs: str) -> None:
    """Remove every name of the oracle's busybox image, so the next pull really downloads."""
    image_id = docker(sock, "image", "inspect", "-f", "{{.Id}}", "busybox:latest").strip()
    docker(sock, "rmi", "busybox:latest", *refs)
    assert oracle_dockerd.docker(sock, "image", "inspect", image_id).returncode != 0


def blob_gets(reg: R.Registry) -> list[str]:
    return [p for m, p, status in reg.requests() if m == "GET" and "/blobs/" in p and status == 200]


def test_dockerd_pushes_pulls_and_pulls_through_a_mirror(oracle: str, tmp_path: Path) -> None:
    """busybox:latest goes to an open registry, is forgotten, comes back from it, is forgotten
    again and comes back through a pull-through mirror; the oracle keeps its busybox after."""
    try:
        with R.registry(tmp_path) as origin:
            ref = f"{origin.host}/library/busybox:latest"
            docker(oracle, "tag", "busybox:latest", ref)
            docker(oracle, "push", ref)
            ctype, digest, man = R.manifest(origin, "library/busybox:latest")
            assert ctype == R.DOCKER_MANIFEST
            forget_busybox(oracle, ref)
            docker(oracle, "pull", ref)
            assert set(blob_gets(origin)) == {
                f"/v2/library/busybox/blobs/{d['digest']}" for d in [man["config"], *man["layers"]]
            }
            docker(oracle, "tag", ref, "busybox:latest")
            assert docker(oracle, "run", "--rm", "--network", "none", ref, "echo", "hi") == "hi\n"

            with R.registry(tmp_path, proxy_of=origin.url) as mirror:
                via = f"{mirror.host}/library/busybox:latest"
                forget_busybox(oracle, ref)
                docker(oracle, "pull", via)
                docker(oracle, "tag", via, "busybox:latest")
                assert R.manifest(mirror, "library/busybox:latest")[1] == digest
                assert len(blob_gets(mirror)) == 1 + len(man["layers"])
                out = docker(oracle, "run", "--rm", "--network", "none", via, "echo", "mirrored")
                assert out == "mirrored\n"
                # The mirror stores what it served (its blob writes finish in the background).
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    catalog = json.loads(R.http_get(mirror, "/v2/_catalog")[2])
                    if catalog["repositories"] == ["library/busybox"]:
                        break
                    time.sleep(0.1)
                assert catalog["repositories"] == ["library/busybox"]
                docker(oracle, "rmi", via)
    finally:
        if oracle_dockerd.docker(oracle, "image", "inspect", "busybox:latest").returncode != 0:
            imported = oracle_dockerd.docker(oracle, "import", "-c", 'CMD ["sh"]', "-",
                                             "busybox:latest",
                                             stdin=oracle_dockerd.busybox_tar(tmp_path / "bb"))  # fmt: skip
            assert imported.returncode == 0, imported.stderr


def test_busybox_layout_runs_on_dockerd(oracle: str, tmp_path: Path) -> None:
    extra = {"hello": b"from a layout\n"}
    R.busybox_layout(
        tmp_path / "bb", extra=extra, config_extra={"config": {"Cmd": ["cat", "/hello"]}}
    )
    with R.registry(tmp_path) as reg:
        R.skopeo_push(tmp_path / "bb", "bb/app:1", reg)
        ref = f"{reg.host}/bb/app:1"
        docker(oracle, "pull", ref)
        assert docker(oracle, "run", "--rm", "--network", "none", ref) == "from a layout\n"
        out = docker(oracle, "run", "--rm", "--network", "none", ref, "sh", "-c", "echo $PATH")
        assert out == R.DEFAULT_ENV.removeprefix("PATH=") + "\n"
        docker(oracle, "rmi", ref)


def test_registry_stops_even_when_the_test_fails(tmp_path: Path) -> None:
    with pytest.raises(KeyError), R.registry(tmp_path, auth="token", tls=True) as reg:
        proc, port = reg.proc, reg.port
        raise KeyError("boom")
    assert proc is not None and proc.poll() is not None
    assert refused(port)
