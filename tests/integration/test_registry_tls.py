"""TLS to registries that are not insecure (E5, #13): a docker-registry (distribution 2.8) with a
certificate from a test CA, on an address of the test's own outside 127.0.0.0/8
(tests/ownaddress.py: 127.0.0.0/8 is an insecure registry by default, so verification is never
tried there), pulled from and pushed to by a private dockyard daemon started with its own
`--registry-certs-dir` (D-registry-6).

Covered: an untrusted certificate refused in dockerd's words and status, for pull, push and
login, nothing stored; the CA in CERTSDIR/HOST:PORT/ca.crt trusted for pull and push; a registry
that wants client certificates (`http.tls.clientcas`): refused without client.cert/client.key,
dockerd's words for a half pair, pulled with both; `--insecure-registry HOST:PORT` skipping
verification; a certificate for another address or name refused for its name (as Go, before
its issuer); and the refusals word for word against a real dockerd 20.10 (the oracle)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests import oracle as oracle_dockerd
from tests import registry as R
from tests.conftest import Daemon, private_daemon
from tests.integration.test_registry_pull import (
    app_layout,
    content_blobs,
    failure,
    forget,
    image_list,
    inspect,
    layer_dirs,
    mark,
    pull,
    run_out,
    tmp_entries,
)
from tests.integration.test_registry_push import (
    final,
    oracle_forget,
    oracle_post,
    oracle_push,
    push,
    uploaded,
)
from tests.ownaddress import own_address

pytestmark = pytest.mark.integration

UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    """This module's registries' address: not loopback, so not an insecure registry."""
    with own_address() as addr:
        yield addr


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certs.d")


@pytest.fixture(scope="module")
def tls_daemon(certs_dir: Path) -> Iterator[Daemon]:
    """A daemon that reads `certs_dir` as its certs.d (in place of /etc/dockyard/certs.d)."""
    with private_daemon("-tls", f"dys{os.getpid()}", "--registry-certs-dir", str(certs_dir)) as d:
        yield d


def trust(certs_dir: Path, reg: R.Registry, *names: str) -> Path:
    """Copy `names` from the registry's own certs.d entry (ca.crt, client.cert, client.key) to
    the daemon's: CERTSDIR/HOST:PORT/NAME, as dockerd reads /etc/docker/certs.d."""
    assert reg.cert_dir is not None
    dest = certs_dir / reg.host
    dest.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(reg.cert_dir / name, dest / name)
    return dest


def stored(d: Daemon) -> tuple[object, ...]:
    """Everything a pull could leave: images, layers, content blobs, temp files."""
    return image_list(d), layer_dirs(d), content_blobs(d), tmp_entries(d)


def refused(d: Daemon, reg: R.Registry, message: str) -> None:
    """A pull of t/app:1 fails with `message` and status 500 (dockerd: an error the registry
    client gives without an HTTP answer is errdefs.Unknown), stores nothing and got nothing
    from the registry (a TLS refusal leaves no request in its access log)."""
    before, start = stored(d), mark(reg)
    status, msgs = pull(d, f"{reg.host}/t/app", "1")
    assert (status, failure(status, msgs)) == (500, message), msgs
    assert stored(d) == before
    assert reg.requests()[start:] == []


def refusal(reg: R.Registry, words: str) -> str:
    """Go's url.Error for the registry's /v2/ probe."""
    return f'Get "https://{reg.host}/v2/": {words}'


def publish(reg: R.Registry, tmp_path: Path) -> str:
    """t/app:1 (busybox and /hello) pushed with skopeo, which verifies the certificate with the
    test CA; its config digest."""
    app_layout(tmp_path / "img", hello=b"over tls\n")
    R.skopeo_push(tmp_path / "img", "t/app:1", reg, fmt="v2s2")
    return str(R.manifest(reg, "t/app:1")[2]["config"]["digest"])


# ---------------------------------------------------------------------------------------------


def test_untrusted_certificate_is_refused(tls_daemon: Daemon, address: str, tmp_path: Path) -> None:
    """E5 (#13): a registry whose CA the daemon does not trust (not in the system CAs, nothing
    in certs.d): the pull fails with dockerd's `Get "https://HOST/v2/": x509: certificate signed
    by unknown authority`, status 500, and stores no image, layer, blob or temp file; a push
    ends its stream with the same error and `POST /auth` answers 500 with it too; the registry
    was asked nothing."""
    with R.registry(tmp_path, tls=True, address=address) as reg:
        publish(reg, tmp_path)
        words = refusal(reg, UNKNOWN_AUTHORITY)
        start = mark(reg)
        refused(tls_daemon, reg, words)
        target = f"{reg.host}/t/busybox"
        try:
            tag(tls_daemon, target)
            status, msgs = push(tls_daemon, target, "1")
            assert (status, failure(status, msgs)) == (200, words), msgs
            login = {"username": "u", "password": "p", "serveraddress": reg.host}
            assert tls_daemon.api("POST", "/auth", login) == (500, {"message": words})
            assert reg.requests()[start:] == []
        finally:
            forget(tls_daemon, reg.host)


def test_ca_in_the_certs_dir_is_trusted_for_pull_and_push(
    tls_daemon: Daemon, certs_dir: Path, address: str, tmp_path: Path
) -> None:
    """E5 (#13): the registry's CA at CERTSDIR/HOST:PORT/ca.crt (CERTSDIR: the daemon's
    --registry-certs-dir): the pull refused a moment before succeeds over verified TLS, the
    image's Id is its config digest and it runs; a push uploads busybox's layer there and the
    registry serves the manifest digest the push reported."""
    with R.registry(tmp_path, tls=True, address=address) as reg:
        config = publish(reg, tmp_path)
        ref = f"{reg.host}/t/app:1"
        refused(tls_daemon, reg, refusal(reg, UNKNOWN_AUTHORITY))
        trust(certs_dir, reg, "ca.crt")
        target = f"{reg.host}/t/busybox"
        try:
            status, msgs = pull(tls_daemon, f"{reg.host}/t/app", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            assert inspect(tls_daemon, ref)["Id"] == config
            assert run_out(tls_daemon, ref, "cat", "/hello") == "over tls\n"
            tag(tls_daemon, target)
            start = mark(reg)
            status, msgs = push(tls_daemon, target, "1")
            assert status == 200
            digest, _ = final(msgs, "1")
            assert R.manifest(reg, "t/busybox:1")[1] == digest
            assert uploaded(reg, start), reg.requests()[start:]
        finally:
            forget(tls_daemon, reg.host)


def test_client_certificates_from_the_certs_dir(
    tls_daemon: Daemon, certs_dir: Path, address: str, tmp_path: Path
) -> None:
    """E5 (#13): a registry that requires client certificates signed by its CA (distribution's
    `http.tls.clientcas`): with only ca.crt in CERTSDIR/HOST:PORT the pull fails with Go's
    `remote error: tls: bad certificate` (the registry's alert), nothing stored; with
    client.cert but no client.key it fails with dockerd's words for the half pair, before any
    connection; with both it pulls."""
    with R.registry(tmp_path, tls=True, address=address, client_certs=True) as reg:
        config = publish(reg, tmp_path)  # skopeo presents the client certificate
        trust(certs_dir, reg, "ca.crt")
        refused(tls_daemon, reg, refusal(reg, "remote error: tls: bad certificate"))
        trust(certs_dir, reg, "client.cert")
        refused(tls_daemon, reg, "missing key client.key for client certificate client.cert. "
                "Note that CA certificates should use the extension .crt")  # fmt: skip
        trust(certs_dir, reg, "client.key")
        try:
            status, msgs = pull(tls_daemon, f"{reg.host}/t/app", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            assert inspect(tls_daemon, f"{reg.host}/t/app:1")["Id"] == config
        finally:
            forget(tls_daemon, reg.host)


def test_insecure_registry_skips_verification(
    tls_daemon: Daemon, address: str, tmp_path: Path
) -> None:
    """E5 (#13): the same untrusted registry, refused by a daemon that does not list it, pulls
    on a daemon started with `--insecure-registry HOST:PORT` and no CA anywhere: the certificate
    is not verified, as dockerd; still over HTTPS (the registry logged the manifest and blob
    requests, which plain HTTP to its port never reaches)."""
    with R.registry(tmp_path, tls=True, address=address) as reg:
        config = publish(reg, tmp_path)
        refused(tls_daemon, reg, refusal(reg, UNKNOWN_AUTHORITY))
        no_certs = tmp_path / "no-certs"
        no_certs.mkdir()
        with private_daemon("-ins", f"dyi{os.getpid()}", "--insecure-registry", reg.host,
                            "--registry-certs-dir", str(no_certs)) as d:  # fmt: skip
            start = mark(reg)
            status, msgs = pull(d, f"{reg.host}/t/app", "1")
            assert status == 200 and failure(status, msgs) == "", msgs
            assert inspect(d, f"{reg.host}/t/app:1")["Id"] == config
            served = [(m, p) for m, p, s in reg.requests()[start:] if s == 200]
            assert ("HEAD", "/v2/t/app/manifests/1") in served, served


def mismatches(address: str) -> dict[str, tuple[str, str]]:
    """Certificates for another name than `address` (subjectAltName, Go's complaint). The other
    address is only written in the certificate: nothing is ever sent to it."""
    other = str(ipaddress.ip_address(address) + 1)
    return {
        "another-address": (f"IP:{other}", f"x509: certificate is valid for {other}, not {address}"),
        "a-dns-name-only": ("DNS:registry.invalid", f"x509: cannot validate certificate for "
                            f"{address} because it doesn't contain any IP SANs"),
    }  # fmt: skip


@pytest.mark.parametrize("case", ["another-address", "a-dns-name-only"])
def test_certificate_for_another_name_is_refused(
    tls_daemon: Daemon, certs_dir: Path, address: str, tmp_path: Path, case: str
) -> None:
    """E5 (#13): a certificate from a trusted CA (ca.crt in CERTSDIR/HOST:PORT) that is for
    another address, or for a DNS name only, is refused with Go's words for the name, status
    500, nothing stored; before the CA was trusted the refusal already named the name, as Go
    checks it before the issuer."""
    san, words = mismatches(address)[case]
    with R.registry(tmp_path, tls=True, address=address, san=san) as reg:
        refused(tls_daemon, reg, refusal(reg, words))
        trust(certs_dir, reg, "ca.crt")
        refused(tls_daemon, reg, refusal(reg, words))


def test_refusals_word_for_word_as_dockerd(
    tls_daemon: Daemon, oracle: str, address: str, tmp_path: Path
) -> None:
    """E5 (#13): the same refused pulls (an untrusted certificate, one for another address, one
    for a DNS name only) and the same refused push on dockyard and on a real dockerd 20.10 (the
    oracle, which trusts no test CA either): the same status and messages."""
    with ExitStack() as stack:
        regs = [stack.enter_context(R.registry(tmp_path, tls=True, address=address, san=san))
                for san in (None, *(s for s, _ in mismatches(address).values()))]  # fmt: skip
        for reg in regs:
            query = urllib.parse.urlencode({"fromImage": f"{reg.host}/t/app", "tag": "1"})
            theirs = oracle_post(oracle, f"/images/create?{query}")
            assert pull(tls_daemon, f"{reg.host}/t/app", "1") == theirs
        target = f"{regs[0].host}/t/busybox"
        try:
            tag(tls_daemon, target)
            assert (
                oracle_dockerd.docker(oracle, "tag", "busybox:latest", f"{target}:1").returncode
                == 0
            )
            assert push(tls_daemon, target, "1") == oracle_push(oracle, target, "1")
        finally:
            oracle_forget(oracle, f"{target}:1")
            forget(tls_daemon, regs[0].host)


def tag(d: Daemon, target: str) -> None:
    """busybox:latest tagged `target`:1."""
    status, body = d.api("POST", f"/images/busybox:latest/tag?repo={target}&tag=1")
    assert status == 201, body
