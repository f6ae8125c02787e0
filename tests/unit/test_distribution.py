"""E5: the pure parts of the registry client: platforms and manifest choice, credentials and
challenges, which endpoints a name goes to, and dockerd's progress bar."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.distribution import manifests, progress
from dockyard.distribution.auth import Challenge, Credentials
from dockyard.distribution.endpoints import RegistryOptions, endpoints, is_insecure
from dockyard.distribution.manifests import Platform
from tests import registry as R


def test_platform_parse_and_match() -> None:
    assert Platform.parse("linux/arm64") == Platform("linux", "arm64", "")
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert Platform.parse("amd64") == Platform("linux", "amd64", "")
    assert Platform.parse("linux/x86_64") == Platform("linux", "amd64", "")
    with pytest.raises(errors.InvalidParameter, match="unknown operating system or architecture"):
        Platform.parse("linux//")
    assert Platform("linux", "arm64", "v8").matches(Platform("linux", "arm64", ""))
    assert Platform("linux", "amd64").matches(Platform("linux", "amd64", "v3"))
    assert not Platform("linux", "arm", "v7").matches(Platform("linux", "arm", "v6"))
    assert not Platform("linux", "amd64").matches(Platform("windows", "amd64"))


def _index(*plats: tuple[str, str, str]) -> manifests.Index:
    doc = {"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": [
        {"mediaType": manifests.OCI_MANIFEST, "digest": f"sha256:{i:064x}", "size": 1,
         "platform": {"os": o, "architecture": a, **({"variant": v} if v else {})}}
        for i, (o, a, v) in enumerate(plats)]}  # fmt: skip
    raw = json.dumps(doc).encode()
    found = manifests.parse(raw, "", manifests.digest_of(raw))
    assert isinstance(found, manifests.Index)
    return found


def test_choose_takes_the_first_match_and_names_a_missing_platform() -> None:
    idx = _index(("linux", "arm64", "v8"), ("linux", "amd64", ""), ("linux", "amd64", "v2"))
    assert manifests.choose(idx, Platform("linux", "amd64")).digest.endswith("1")
    assert manifests.choose(idx, Platform("linux", "arm64", "v8")).digest.endswith("0")
    with pytest.raises(
        errors.System, match="^no matching manifest for linux/s390x in the manifest list entries$"
    ):
        manifests.choose(idx, Platform("linux", "s390x"))


def test_parse_refuses_schema1_and_unknown_types() -> None:
    with pytest.raises(errors.InvalidParameter, match="schema 1 support has been removed"):
        manifests.parse(b'{"schemaVersion": 1, "name": "x"}', "", "sha256:" + "0" * 64)
    with pytest.raises(errors.InvalidParameter, match="unsupported media type application/x-thing"):
        manifests.parse(b'{"schemaVersion": 2, "mediaType": "application/x-thing"}', "", "d")
    assert (
        manifests.ACCEPT[0] == manifests.DOCKER_MANIFEST and manifests.OCI_INDEX in manifests.ACCEPT
    )


def test_credentials_from_the_header() -> None:
    def enc(doc: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    c = Credentials.from_header(enc({"username": "u", "password": "p", "serveraddress": "h"}))
    assert (c.username, c.password, c.empty) == ("u", "p", False)
    assert c.basic() == "Basic " + base64.b64encode(b"u:p").decode()
    packed = Credentials.from_header(enc({"auth": base64.b64encode(b"a:b:c").decode()}))
    assert (packed.username, packed.password) == ("a", "b:c")
    assert Credentials.from_header(enc({})).empty and Credentials.from_header("").empty
    with pytest.raises(errors.InvalidParameter):
        Credentials.from_header("%%%")


def test_challenges() -> None:
    ch = Challenge.parse(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"'
    )
    assert ch is not None and ch.scheme == "bearer"
    assert ch.params == {"realm": "https://auth.example/token", "service": "reg",
                         "scope": "repository:a/b:pull,push"}  # fmt: skip
    basic = Challenge.parse('Basic realm="basic-realm"')
    assert basic is not None and basic.scheme == "basic"


def test_endpoints_mirrors_hub_and_insecure(tmp_path: Path) -> None:
    opts = RegistryOptions(mirrors=("http://127.0.0.1:5001",), certs_dirs=(tmp_path,))
    eps = endpoints("docker.io", opts)
    assert [(e.scheme, e.host, e.mirror) for e in eps] == [
        ("http", "127.0.0.1:5001", True), ("https", "registry-1.docker.io", False)]  # fmt: skip
    assert [e.host for e in endpoints("docker.io", opts, push=True)] == ["registry-1.docker.io"]
    local = endpoints("127.0.0.1:5000", opts)
    assert [(e.scheme, e.verify) for e in local] == [("https", False), ("http", True)]
    (tmp_path / "reg.example:443").mkdir()
    secure = endpoints("reg.example:443", RegistryOptions(insecure=(), certs_dirs=(tmp_path,)))
    assert [(e.scheme, e.verify, e.certs) for e in secure] == [
        ("https", True, (tmp_path / "reg.example:443",))]  # fmt: skip
    assert is_insecure("10.1.2.3:5000", ("10.0.0.0/8",)) and is_insecure(
        "myreg:5000", ("myreg:5000",)
    )
    assert not is_insecure("192.0.2.1", ("127.0.0.0/8",))
    # dockerd: a name listed without a port is not that host on a port; a scheme is dropped
    assert not is_insecure("198.18.0.5:5000", ("198.18.0.5",))
    assert is_insecure("198.18.0.5", ("198.18.0.5",))
    assert is_insecure("198.18.0.5:5000", ("http://198.18.0.5:5000",))
    assert is_insecure("198.18.0.5:5000", ("198.18.0.0/15",))
    hubless = RegistryOptions(hub="127.0.0.1:9")
    assert [(e.scheme, e.host) for e in endpoints("docker.io", hubless)] == [
        ("https", "127.0.0.1:9"), ("http", "127.0.0.1:9")]  # fmt: skip


def test_certs_dir_client_pairs_as_dockerd(tmp_path: Path) -> None:
    """A client certificate needs its key and a key its certificate, or the endpoint cannot be
    used, in dockerd's words; a CA alone (`.crt`) is read."""
    ca = R.make_ca(tmp_path / "ca")
    d = tmp_path / "certs.d" / "198.18.0.5:5000"
    d.mkdir(parents=True)
    shutil.copy(ca[0], d / "ca.crt")
    ep = endpoints("198.18.0.5:5000", RegistryOptions(certs_dirs=(tmp_path / "certs.d",)))[0]
    assert ep.verify and ep.certs == (d,)
    assert ep.ssl_context() is not None
    cert, key = R.make_client_cert(tmp_path, ca)
    shutil.copy(cert, d / "client.cert")
    with pytest.raises(errors.System) as missing_key:
        ep.ssl_context()
    assert missing_key.value.message == (
        "missing key client.key for client certificate client.cert. Note that CA certificates "
        "should use the extension .crt"
    )
    shutil.copy(key, d / "client.key")
    assert ep.ssl_context() is not None
    (d / "client.cert").unlink()
    with pytest.raises(errors.System) as missing_cert:
        ep.ssl_context()
    assert missing_cert.value.message == "Missing client certificate client.cert for key client.key"


def test_progress_bar_is_dockerds() -> None:
    assert progress.bar(0, 0) == ""
    bar = progress.bar(1_500_000, 3_000_000)
    assert bar == "[" + "=" * 25 + ">" + " " * 25 + "] " + "   1.5MB/3MB"  # %8v/%v
    assert progress.short("sha256:" + "ab" * 32) == "ab" * 6
    msg = progress.transfer("Downloading", "abc", 10, 100, None)
    assert msg["progressDetail"] == {"current": 10, "total": 100} and msg["id"] == "abc"
    assert progress.encode({"status": "x"}) == b'{"status": "x"}\r\n'
